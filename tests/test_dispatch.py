"""The dispatcher on a real database (SQLite, and PostgreSQL when it runs here) with real loopback receivers."""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.dispatch import Dispatcher, DispatchReport, backoff
from config.schema import AlertSettings
from hlidka.db import Alert, Article, Database, KnownUrl, open_database, utcnow
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

RETRY_BASE = timedelta(seconds=30)


@pytest.fixture
def clock() -> Clock:
    """A minute ahead of the wall clock, so rows inserted during the test are already due."""
    return Clock(utcnow() + timedelta(minutes=1))


def test_pending_alert_is_sent_once_and_marked_sent(database: Database, mail: MailSink, clock: Clock,
                                                    tmp_path: Path) -> None:
    alert_id = add_alert(database, "email")
    dispatcher = Dispatcher(database, make_config(tmp_path, {"email": mail.mailto_url()}), clock=clock, worker_id="w1")

    assert dispatcher.run_once() == DispatchReport(sent=1, messages=1)
    assert dispatcher.run_once() == DispatchReport()

    alert = load_alert(database, alert_id)
    assert (alert.status, alert.attempts, alert.sent_at, alert.claimed_until, alert.claimed_by) == (
        "sent", 1, clock.now, None, "w1")
    [message] = mail.wait_for(1)
    assert message.subject == f"[Korea] {CZECH_TITLE}"
    assert "<mark" in (message.html or "") and "Korejská republika" in (message.text or "")
    assert "Ministerstvo obrany ČR" in (message.text or ""), "the source's name comes from the config"
    time.sleep(0.2)
    assert len(mail.messages) == 1


def test_alert_shows_snippet_terms_and_other_urls_of_the_story(database: Database, webhook: WebhookReceiver,
                                                               clock: Clock, tmp_path: Path) -> None:
    text = UKRAINIAN_TEXT
    hits = hits_for(text, [("Південна Корея", "Південної Кореї")]) + [
        {"term": "Південна Корея", "surface": "Південної Кореї", "field": "title", "start": 40, "end": 55,
         "kind": "strong"}]
    add_alert(database, "hook", title=UKRAINIAN_TITLE, text=text, url="https://ua.example/umerov", language="uk",
              hits=hits)
    with database.session() as session, session.begin():
        story = session.scalars(select(Article)).one()
        session.add(KnownUrl(canonical_url="https://ua.example/umerov?amp", source_id="mocr", article_id=story.id))
        session.add(Article(source_id="mocr", canonical_url="https://copy.example/umerov", title="copy", text=text,
                            language="uk", content_hash="x", story_id=story.id))
    config = make_config(tmp_path, {"hook": webhook.url() + "?format=text"})

    assert Dispatcher(database, config, clock=clock).run_once() == DispatchReport(sent=1, messages=1)

    [request] = webhook.requests
    payload = request.json()
    assert payload["title"] == f"[Korea] {UKRAINIAN_TITLE}"
    body = payload["message"]
    assert "*Південної Кореї*" in body, "the text hit is highlighted in the snippet"
    assert "Terms: Південна Корея ×2" in body, "title and text hits both count"
    assert body.index("https://copy.example/umerov") < body.index("https://ua.example/umerov?amp")
    assert body.count("https://ua.example/umerov\n") == 1, "the article's own URL is not repeated under 'Also at'"


def test_smtp_down_backs_off_then_delivers_once_when_up(database: Database, clock: Clock, tmp_path: Path) -> None:
    sink = MailSink()  # created but not started: the port refuses connections
    try:
        alert_id = add_alert(database, "email")
        dispatcher = Dispatcher(database, make_config(tmp_path, {"email": sink.mailto_url()}), clock=clock)

        assert dispatcher.run_once() == DispatchReport(retried=1)
        alert = load_alert(database, alert_id)
        assert (alert.status, alert.attempts, alert.sent_at) == ("pending", 1, None)
        assert alert.last_error is not None and alert.last_error.startswith("FAILURE")
        assert clock.now + RETRY_BASE * 0.8 <= alert.next_attempt_at <= clock.now + RETRY_BASE * 1.2
        assert dispatcher.run_once() == DispatchReport(), "not due again before the backoff"

        sink.start()
        assert dispatcher.run_once() == DispatchReport(), "still waiting out the backoff"
        clock.advance(RETRY_BASE * 1.2)
        assert dispatcher.run_once() == DispatchReport(sent=1, messages=1)
        clock.advance(RETRY_BASE * 10)
        assert dispatcher.run_once() == DispatchReport()

        alert = load_alert(database, alert_id)
        assert (alert.status, alert.attempts, alert.last_error) == ("sent", 2, None)
        assert len(sink.wait_for(1)) == 1
        time.sleep(0.2)
        assert len(sink.messages) == 1
    finally:
        sink.close()


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(7)
    base, cap = timedelta(seconds=30), timedelta(hours=1)
    for attempts, nominal in [(1, 30), (2, 60), (3, 120), (5, 480), (8, 3600), (9, 3600), (500, 3600)]:
        delays = [backoff(attempts, base, cap, rng).total_seconds() for _ in range(50)]
        assert all(nominal * 0.8 <= d <= nominal * 1.2 for d in delays), attempts
        assert max(delays) - min(delays) > nominal * 0.1, "jitter spreads retries"


def test_alert_older_than_give_up_after_fails_for_good(database: Database, clock: Clock, tmp_path: Path) -> None:
    down = MailSink()
    try:
        alert_id = add_alert(database, "email", created_at=clock.now - timedelta(days=3))
        config = make_config(tmp_path, {"email": down.mailto_url()}, AlertSettings(give_up_after=timedelta(days=2)))
        dispatcher = Dispatcher(database, config, clock=clock)
        assert dispatcher.run_once() == DispatchReport(failed=1)
        clock.advance(timedelta(days=1))
        assert dispatcher.run_once() == DispatchReport()
    finally:
        down.close()
    alert = load_alert(database, alert_id)
    assert (alert.status, alert.attempts) == ("failed", 1)
    assert alert.last_error and alert.last_error.startswith("FAILURE")


def test_two_dispatchers_racing_never_send_an_alert_twice(database: Database, webhook: WebhookReceiver,
                                                          clock: Clock, tmp_path: Path) -> None:
    ids = [add_alert(database, "hook", title=f"Korejská republika {n}", url=f"https://www.mocr.cz/{n}")
           for n in range(30)]
    config = make_config(tmp_path, {"hook": webhook.url()})
    second = open_database(database.url, migrate=False)
    dispatchers = [Dispatcher(database, config, clock=clock, worker_id="a"),
                   Dispatcher(second, config, clock=clock, worker_id="b")]
    start = threading.Barrier(len(dispatchers))
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

    titles = [request.json()["title"] for request in webhook.requests]
    assert sorted(titles) == sorted(f"[Korea] Korejská republika {n}" for n in range(30))
    assert sum(r.sent for r in reports) == 30
    with database.session() as session:
        rows = session.scalars(select(Alert).where(Alert.id.in_(ids))).all()
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}


def test_missing_variable_waits_without_an_attempt_and_is_logged_once(
    database: Database, webhook: WebhookReceiver, clock: Clock, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("HLIDKA_TEST_HOOK_TOKEN", raising=False)
    alert_id = add_alert(database, "hook")
    config = make_config(tmp_path, {"hook": webhook.url("/hooks/${HLIDKA_TEST_HOOK_TOKEN}")})
    dispatcher = Dispatcher(database, config, clock=clock)
    caplog.set_level(logging.INFO, logger="hlidka.alerts")

    assert dispatcher.run_once() == DispatchReport(waiting=1)
    assert dispatcher.run_once() == DispatchReport(waiting=1)

    alert = load_alert(database, alert_id)
    assert (alert.status, alert.attempts, alert.last_error) == ("pending", 0, None)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["channel 'hook' needs environment variable HLIDKA_TEST_HOOK_TOKEN, which is not set; "
                        "its alerts wait in the queue"], "once per channel, not once per run"
    assert webhook.requests == []

    monkeypatch.setenv("HLIDKA_TEST_HOOK_TOKEN", "s3cret-token-value")
    assert dispatcher.run_once() == DispatchReport(sent=1, messages=1)
    assert webhook.requests[0].path == "/hooks/s3cret-token-value"
    assert "s3cret-token-value" not in caplog.text


def test_waiting_alerts_do_not_take_the_places_of_sendable_ones(
    database: Database, webhook: WebhookReceiver, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HLIDKA_TEST_UNSET", raising=False)
    for n in range(3):
        add_alert(database, "blocked", url=f"https://www.mocr.cz/blocked-{n}")
    add_alert(database, "hook")
    config = make_config(tmp_path, {"hook": webhook.url(), "blocked": "json://${HLIDKA_TEST_UNSET}@127.0.0.1:9/"})
    assert Dispatcher(database, config, clock=clock).run_once(limit=1) == DispatchReport(sent=1, messages=1, waiting=3)


def test_channel_removed_from_config_keeps_its_alerts_pending(database: Database, clock: Clock, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    alert_id = add_alert(database, "retired")
    caplog.set_level(logging.WARNING, logger="hlidka.alerts")
    assert Dispatcher(database, make_config(tmp_path, {}), clock=clock).run_once() == DispatchReport(waiting=1)
    assert load_alert(database, alert_id).status == "pending"
    assert "channel 'retired' is not defined in settings.yaml" in caplog.text


def test_expired_lease_is_reclaimed_and_a_live_one_is_left_alone(database: Database, mail: MailSink, clock: Clock,
                                                                 tmp_path: Path) -> None:
    crashed = add_alert(database, "email", url="https://www.mocr.cz/crashed", status="sending",
                        claimed_by="crashed-worker", claimed_until=clock.now - timedelta(seconds=1))
    busy = add_alert(database, "email", url="https://www.mocr.cz/busy", status="sending",
                     claimed_by="live-worker", claimed_until=clock.now + timedelta(minutes=4))
    dispatcher = Dispatcher(database, make_config(tmp_path, {"email": mail.mailto_url()}), clock=clock, worker_id="w2")

    assert dispatcher.run_once() == DispatchReport(sent=1, messages=1)

    assert (load_alert(database, crashed).status, load_alert(database, crashed).claimed_by) == ("sent", "w2")
    assert (load_alert(database, busy).status, load_alert(database, busy).claimed_by) == ("sending", "live-worker")
    assert len(mail.wait_for(1)) == 1


def test_a_broken_user_template_costs_an_attempt_not_the_run(database: Database, mail: MailSink, clock: Clock,
                                                              tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "alert.html.j2").write_text("{{ alert.no_such_field }}", encoding="utf-8")
    first = add_alert(database, "email", url="https://www.mocr.cz/1")
    add_alert(database, "email", url="https://www.mocr.cz/2")

    assert Dispatcher(database, make_config(tmp_path, {"email": mail.mailto_url()}), clock=clock).run_once() == (
        DispatchReport(retried=2))

    alert = load_alert(database, first)
    assert alert.status == "pending" and alert.attempts == 1
    assert alert.last_error is not None and "no_such_field" in alert.last_error
