"""``hlidka alerts list`` and ``retry`` on a real database, and the upgrade of an existing outbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text

from alerts.dispatch import Dispatcher, DispatchReport
from config.schema import AlertSettings
from hlidka.cli import main
from hlidka.db import Alert, Database, alembic_config, utcnow
from hlidka.mailsink import MailSink
from support.alerts_helpers import CZECH_TITLE, Clock, add_alert, load_alert, make_config, write_config


@pytest.fixture
def config_dir(database: Database, mail: MailSink, tmp_path: Path) -> Path:
    return write_config(tmp_path / "config", database.url, mail.mailto_url())


def hlidka(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_shows_each_state_with_the_error_of_failed_alerts(
    database: Database, config_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    sent = add_alert(database, "email", url="https://www.mocr.cz/1", status="sent", attempts=1, sent_at=utcnow())
    failed = add_alert(database, "email", url="https://www.mocr.cz/2", title="Pchjongjang odpálil raketu",
                       status="failed", attempts=7, last_error="FAILURE: Connection error while submitting email")
    pending = add_alert(database, "email", url="https://www.mocr.cz/3", title="Умєров у Сеулі")

    code, out, _ = hlidka(capsys, "alerts", "list", "--config", str(config_dir))

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "pending: 1  sending: 0  sent: 1  failed: 1  (times in UTC)"
    rows = {int(line.split()[0]): line for line in lines[2:] if line.split()[0].isdigit()}
    assert list(rows) == [pending, failed, sent], "newest first"
    assert rows[pending].split()[1:3] == ["pending", "email"] and "Умєров у Сеулі" in rows[pending]
    assert rows[failed].split()[1:5] == ["failed", "email", "korea", "7"]
    assert "    last error: FAILURE: Connection error while submitting email" in out
    assert CZECH_TITLE[:40] in rows[sent]

    code, out, _ = hlidka(capsys, "alerts", "list", "--config", str(config_dir), "--status", "failed")
    assert [line.split()[0] for line in out.splitlines()[2:] if line.split()[0].isdigit()] == [str(failed)]
    assert out.splitlines()[0].startswith("pending: 0  sending: 0  sent: 0  failed: 1")


def test_retry_puts_failed_alerts_back_with_a_fresh_give_up_age(
    database: Database, config_dir: Path, mail: MailSink, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    three_days_ago = utcnow() - timedelta(days=3)
    failed = add_alert(database, "email", created_at=three_days_ago, status="failed", attempts=9,
                       last_error="FAILURE: old")
    sent = add_alert(database, "email", url="https://www.mocr.cz/sent", status="sent", attempts=1)

    code, out, err = hlidka(capsys, "alerts", "retry", "--config", str(config_dir), str(failed), str(sent), "999")
    assert code == 1
    assert f"alert {sent} not retried: it is sent, not failed" in err and "alert 999 not retried: no such alert" in err
    assert out.startswith("1 alert(s) queued again")
    alert = load_alert(database, failed)
    assert (alert.status, alert.attempts) == ("pending", 0) and alert.retried_at is not None

    # Still down: the alert is three days old, but retried now, so it is not given up at once.
    down = MailSink()
    try:
        config = make_config(tmp_path, {"email": down.mailto_url()}, AlertSettings(give_up_after=timedelta(days=2)))
        assert Dispatcher(database, config, clock=Clock(utcnow() + timedelta(seconds=1))).run_once() == (
            DispatchReport(retried=1))
    finally:
        down.close()
    with database.session() as session, session.begin():
        session.get_one(Alert, failed).status = "failed"

    code, out, _ = hlidka(capsys, "alerts", "retry", "--config", str(config_dir), "--failed")
    assert (code, out.splitlines()[0]) == (0, "1 alert(s) queued again: they go out at the next dispatch "
                                              "(or now with 'hlidka alerts send')")
    config = make_config(tmp_path, {"email": mail.mailto_url()})
    assert Dispatcher(database, config, clock=Clock(utcnow() + timedelta(seconds=1))).run_once() == (
        DispatchReport(sent=1, messages=1))
    assert mail.wait_for(1)[0].subject == f"[Korea] {CZECH_TITLE}"


def test_retry_without_a_choice_says_how_to_choose(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = hlidka(capsys, "alerts", "retry", "--config", str(config_dir))
    assert code == 2 and "--failed" in err


def test_upgrade_keeps_queued_alerts_of_an_older_database(database_url: str, mail: MailSink,
                                                          tmp_path: Path) -> None:
    database = Database(database_url)
    try:
        cfg = alembic_config(database_url)
        with database.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "0001")
            connection.execute(text(
                "INSERT INTO articles (id, source_id, canonical_url, title, text, fetched_at, content_hash) "
                "VALUES (1, 'mocr', 'https://www.mocr.cz/old', 'Korejská republika', 'Korejská republika', "
                ":now, 'h')"), {"now": utcnow().replace(tzinfo=None)})
            connection.execute(text(
                "INSERT INTO alerts (dedupe_key, article_id, watchlist_id, channel, status, attempts, "
                "next_attempt_at, created_at) VALUES ('story:1:korea:email', 1, 'korea', 'email', 'pending', 0, "
                ":now, :now)"), {"now": utcnow().replace(tzinfo=None)})
        database.upgrade()
        with database.session() as session:
            [alert] = session.scalars(select(Alert)).all()
        assert (alert.kind, alert.batch, alert.status) == ("match", None, "pending")

        config = make_config(tmp_path, {"email": mail.mailto_url()})
        assert Dispatcher(database, config, clock=Clock(utcnow() + timedelta(seconds=1))).run_once() == (
            DispatchReport(sent=1, messages=1))
        assert mail.wait_for(1)[0].subject == "[Korea] Korejská republika"
    finally:
        database.dispose()
