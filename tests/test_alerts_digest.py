"""Delivery modes on a real database with real receivers and a fake clock: digests, quiet hours,
rate-limit folds, messages split to fit a chat, operations alerts for given-up alerts."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import responses
from sqlalchemy import select

from alerts.dispatch import Dispatcher, DispatchReport
from config.schema import AlertSettings
from hlidka.db import Alert, Database, open_database
from hlidka.mailsink import MailSink
from support.alerts_helpers import (
    CZECH_TITLE,
    UKRAINIAN_TEXT,
    UKRAINIAN_TITLE,
    Clock,
    WebhookReceiver,
    add_alert,
    hits_for,
    load_alert,
    make_config,
)

PRAGUE = ZoneInfo("Europe/Prague")
MONDAY = datetime(2025, 3, 3, tzinfo=PRAGUE)
DIGEST = {"mode": "digest", "schedule": "0 7,16 * * 1-5"}
NATO_TEXT = "Generální tajemník NATO jednal v Bruselu o podpoře Ukrajiny a o společné obraně."
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def prague(hour: int, minute: int = 0, second: int = 0, day: int = 0) -> datetime:
    """A moment of the test week, Prague wall time, as the UTC the database keeps."""
    return (MONDAY + timedelta(days=day, hours=hour, minutes=minute, seconds=second)).astimezone(UTC)


def test_matches_across_the_day_arrive_in_one_email_at_the_scheduled_time(
    database: Database, mail: MailSink, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, {"email": {"url": mail.mailto_url(), "delivery": DIGEST}},
                         AlertSettings(timezone="Europe/Prague"))
    clock = Clock(prague(7, 30))
    dispatcher = Dispatcher(database, config, clock=clock)
    ukrainian_hits = hits_for(UKRAINIAN_TEXT, [("Південна Корея", "Південної Кореї")])
    queued = [
        (prague(7, 30), dict(title=CZECH_TITLE, url="https://www.mocr.cz/a")),
        (prague(11, 5), dict(title="NATO jedná o obraně", text=NATO_TEXT, url="https://www.mocr.cz/nato",
                             watchlist="nato", hits=hits_for(NATO_TEXT, [("NATO", "NATO")]))),
        (prague(15, 59), dict(title=UKRAINIAN_TITLE, text=UKRAINIAN_TEXT, url="https://ua.example/umerov",
                              language="uk", hits=ukrainian_hits)),
    ]
    ids = []
    for moment, fields in queued:
        clock.now = moment
        ids.append(add_alert(database, "email", created_at=moment, **fields))  # type: ignore[arg-type]
        assert dispatcher.run_once() == DispatchReport(held=len(ids)), "nothing before 16:00"
    assert mail.messages == []

    clock.now = prague(16, 0, 20)
    assert dispatcher.run_once() == DispatchReport(sent=3, messages=1)
    [message] = mail.wait_for(1)
    assert message.subject == "[Hlídka] Digest: 3 new articles — Korea 2, NATO 1"
    assert message.html is not None and message.text is not None
    for body in (message.html, message.text):
        assert body.index("Korea (2)") < body.index(CZECH_TITLE) < body.index(UKRAINIAN_TITLE) < body.index("NATO (1)")
        assert "NATO jedná o obraně" in body and "https://ua.example/umerov" in body
    assert "<mark" in message.html and "Південної Кореї" in message.html
    batches = {load_alert(database, alert_id).batch for alert_id in ids}
    assert len(batches) == 1 and None not in batches, "one message, so one batch"

    clock.now = prague(16, 30)
    late = add_alert(database, "email", created_at=clock.now, url="https://www.mocr.cz/late")
    for moment in (prague(16, 31), prague(6, 59, day=1)):
        clock.now = moment
        assert dispatcher.run_once() == DispatchReport(held=1), "waits for Tuesday 07:00"
    clock.now = prague(7, 0, 5, day=1)
    assert dispatcher.run_once() == DispatchReport(sent=1, messages=1)
    assert mail.wait_for(2)[1].subject == "[Korea] Digest: 1 new article"
    assert load_alert(database, late).status == "sent"
    assert dispatcher.run_once() == DispatchReport()


def test_quiet_hours_hold_the_night_and_send_it_folded_in_the_morning(
    database: Database, webhook: WebhookReceiver, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, {"chat": {"url": webhook.url(), "timezone": "Europe/Prague",
                                             "quiet_hours": {"start": "22:00", "end": "07:00"}}})
    clock = Clock(prague(23, 0))
    dispatcher = Dispatcher(database, config, clock=clock)
    for n, moment in enumerate((prague(23, 0), prague(2, 30, day=1))):
        clock.now = moment
        add_alert(database, "chat", created_at=moment, title=f"Noční zpráva {n}", url=f"https://www.mocr.cz/n{n}")
        assert dispatcher.run_once() == DispatchReport(held=n + 1)
    assert webhook.requests == []

    clock.now = prague(7, 0, 30, day=1)
    add_alert(database, "chat", created_at=clock.now, title="Ranní zpráva", url="https://www.mocr.cz/r")
    assert dispatcher.run_once() == DispatchReport(sent=3, messages=2)
    folded, morning = (request.json() for request in webhook.requests)
    assert folded["title"] == "[Korea] After quiet hours: 2 new articles"
    assert "Held during quiet hours 22:00–07:00 (Europe/Prague)" in folded["message"]
    assert "Noční zpráva 0" in folded["message"] and "Noční zpráva 1" in folded["message"]
    assert morning["title"] == "[Korea] Ranní zpráva"


def test_rate_limit_folds_a_burst_and_drops_nothing(database: Database, webhook: WebhookReceiver,
                                                    tmp_path: Path) -> None:
    config = make_config(tmp_path, {"chat": {"url": webhook.url(), "rate_limit": {"messages": 2, "per": "10m"}}})
    clock = Clock(prague(9, 0))
    dispatcher = Dispatcher(database, config, clock=clock)
    burst = [add_alert(database, "chat", created_at=clock.now - timedelta(seconds=10 - n),
                       title=f"Zpráva {n}", url=f"https://www.mocr.cz/{n}") for n in range(5)]

    assert dispatcher.run_once() == DispatchReport(sent=5, messages=2)
    single, fold = (request.json() for request in webhook.requests)
    assert single["title"] == "[Korea] Zpráva 0"
    assert fold["title"] == "[Korea] Folded burst: 4 new articles"
    assert all(f"Zpráva {n}" in fold["message"] for n in range(1, 5))
    assert "More than 2 messages in 10 min" in fold["message"]

    clock.advance(timedelta(minutes=1))
    later = [add_alert(database, "chat", created_at=clock.now, title=f"Další {n}", url=f"https://www.mocr.cz/d{n}")
             for n in range(3)]
    assert dispatcher.run_once() == DispatchReport(held=3), "the window is used up: wait, do not drop"
    clock.advance(timedelta(minutes=10))
    assert dispatcher.run_once() == DispatchReport(sent=3, messages=2)
    assert [r.json()["title"] for r in webhook.requests[2:]] == ["[Korea] Další 0", "[Korea] Folded burst: 2 new articles"]
    assert {load_alert(database, alert_id).status for alert_id in burst + later} == {"sent"}


@responses.activate
def test_a_digest_too_long_for_telegram_is_split_into_messages_that_fit(database: Database, tmp_path: Path) -> None:
    responses.add(responses.POST, f"https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendMessage",
                  json={"ok": True, "result": {}})
    config = make_config(tmp_path, {"tg": {"url": f"tgram://{TELEGRAM_TOKEN}/-1001234567/", "timezone": "Europe/Prague",
                                           "delivery": {"mode": "digest", "schedule": "0 7 * * *"}}})
    clock = Clock(prague(6, 0))
    ids = [add_alert(database, "tg", created_at=clock.now, title=f"Článek číslo {n}: {CZECH_TITLE}",
                     url=f"https://www.mocr.cz/clanek-{n}") for n in range(25)]
    clock.now = prague(7, 0, 10)

    report = Dispatcher(database, config, clock=clock).run_once()

    texts = [json.loads(call.request.body)["text"] for call in responses.calls]
    assert report == DispatchReport(sent=25, messages=len(texts)) and len(texts) >= 3
    assert all(len(text) <= 4096 for text in texts)
    assert all(f"({n}/{len(texts)})" in text.splitlines()[0] for n, text in enumerate(texts, start=1))
    found = Counter(n for text in texts for n in range(25) if f"Článek číslo {n}:" in text)
    assert found == Counter(range(25)), "every article in exactly one part"
    assert len({load_alert(database, alert_id).batch for alert_id in ids}) == len(texts), "each part is a message"


def test_two_dispatchers_at_the_digest_slot_never_put_an_alert_in_two_messages(
    database: Database, webhook: WebhookReceiver, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, {"chat": {"url": webhook.url(), "timezone": "Europe/Prague",
                                             "delivery": {"mode": "digest", "schedule": "0 7 * * *"}}})
    clock = Clock(prague(6, 0))
    for n in range(20):
        add_alert(database, "chat", created_at=clock.now, title=f"Titulek {n:02d}", url=f"https://www.mocr.cz/{n}")
    clock.now = prague(7, 0, 1)
    second = open_database(database.url, migrate=False)
    dispatchers = [Dispatcher(database, config, clock=clock, worker_id="a"),
                   Dispatcher(second, config, clock=clock, worker_id="b")]
    start = threading.Barrier(2)
    reports: list[DispatchReport] = []

    def run(dispatcher: Dispatcher) -> None:
        start.wait()
        reports.append(dispatcher.run_once())

    threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    second.dispose()

    seen = Counter(n for request in webhook.requests for n in range(20) if f"Titulek {n:02d}" in request.json()["message"])
    assert seen == Counter(range(20))
    assert sum(r.sent for r in reports) == 20 and sum(r.messages for r in reports) == len(webhook.requests)


def test_given_up_alert_raises_one_operations_alert(database: Database, webhook: WebhookReceiver,
                                                    tmp_path: Path) -> None:
    down = MailSink()
    try:
        config = make_config(tmp_path, {"email": down.mailto_url(), "ops": webhook.url()},
                             AlertSettings(give_up_after=timedelta(days=2), operations_channels=["ops"]))
        clock = Clock(prague(9, 0))
        add_alert(database, "email", created_at=clock.now - timedelta(days=3))
        dispatcher = Dispatcher(database, config, clock=clock)

        assert dispatcher.run_once() == DispatchReport(failed=1)
        assert dispatcher.run_once() == DispatchReport(sent=1, messages=1)
        assert dispatcher.run_once() == DispatchReport()
    finally:
        down.close()
    [request] = webhook.requests
    notice = request.json()
    assert notice["title"] == "[Hlídka] 1 alert(s) to channel 'email' given up"
    assert CZECH_TITLE in notice["message"] and "FAILURE" in notice["message"]
    assert "hlidka alerts retry --failed" in notice["message"]
    with database.session() as session:
        rows = session.scalars(select(Alert).order_by(Alert.id)).all()
    assert [(r.kind, r.channel, r.status) for r in rows] == [("match", "email", "failed"),
                                                            ("operations", "ops", "sent")]
