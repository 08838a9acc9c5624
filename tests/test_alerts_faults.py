"""Delivery through faults: a mail server that is down or refusing, a dispatcher killed mid-send,
a queue of 200 alerts across a restart. The dispatcher runs as users run it (``hlidka alerts send``)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from alerts.dispatch import Dispatcher, DispatchReport
from hlidka.db import Alert, Database, utcnow
from hlidka.mailsink import MailSink
from support.alerts_helpers import Clock, add_alert, make_config, write_config


def send_command(config_dir: Path) -> list[str]:
    return [sys.executable, "-m", "hlidka", "alerts", "send", "--config", str(config_dir)]


def statuses(database: Database) -> Counter[str]:
    with database.session() as session:
        return Counter(dict(session.execute(select(Alert.status, func.count()).group_by(Alert.status)).all()))


def queue(database: Database, count: int) -> list[int]:
    return [add_alert(database, "email", title=f"Korejská republika — zpráva {n:03d}",
                      url=f"https://www.mocr.cz/zprava-{n:03d}") for n in range(count)]


def test_smtp_down_for_the_first_attempts_then_up_delivers_every_alert_once(database: Database,
                                                                            tmp_path: Path) -> None:
    sink = MailSink()  # created, not started: connections are refused
    try:
        ids = queue(database, 10)
        clock = Clock(utcnow() + timedelta(minutes=1))
        dispatcher = Dispatcher(database, make_config(tmp_path, {"email": sink.mailto_url()}), clock=clock)
        for attempt in range(1, 4):
            assert dispatcher.run_once() == DispatchReport(retried=10)
            with database.session() as session:
                assert set(session.scalars(select(Alert.attempts).where(Alert.id.in_(ids)))) == {attempt}
                errors = list(session.scalars(select(Alert.last_error).where(Alert.id.in_(ids))))
            assert sum(e.startswith("FAILURE") for e in errors) == 1, "one connection attempt per run"
            assert sum(e.startswith("not tried: FAILURE") for e in errors) == 9
            clock.advance(timedelta(hours=1))

        sink.start()
        sink.refuse(2)  # up, but answering "451 try again later" to the next two messages
        for _ in range(2):
            # One message is tried per run; the channel refused it, so the other nine wait without a try.
            assert dispatcher.run_once() == DispatchReport(retried=10)
            clock.advance(timedelta(hours=1))
        assert dispatcher.run_once() == DispatchReport(sent=10, messages=10)
        clock.advance(timedelta(hours=1))
        assert dispatcher.run_once() == DispatchReport()

        subjects = Counter(m.subject for m in sink.wait_for(10))
        time.sleep(0.3)
        assert len(sink.messages) == 10
        assert subjects == Counter(f"[Korea] Korejská republika — zpráva {n:03d}" for n in range(10))
        assert statuses(database) == Counter(sent=10)
    finally:
        sink.close()


def test_dispatcher_killed_between_sending_and_marking_repeats_at_most_that_alert(database: Database,
                                                                                  tmp_path: Path) -> None:
    with MailSink() as sink:
        config_dir = write_config(tmp_path / "config", database.url, sink.mailto_url())
        queue(database, 5)
        release = sink.hold(after=2)  # the third message is received, its "250" withheld
        dispatcher = subprocess.Popen(send_command(config_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            in_flight = sink.wait_for(3, timeout=60)[2].subject
            dispatcher.send_signal(signal.SIGKILL)
            dispatcher.wait(timeout=30)
        finally:
            if dispatcher.poll() is None:
                dispatcher.kill()
            release.set()
        assert statuses(database) == Counter(sent=2, sending=1, pending=2)

        with database.session() as session:
            claimed_until = session.scalar(select(Alert.claimed_until).where(Alert.status == "sending"))
        assert claimed_until is not None
        time.sleep(max(0.0, (claimed_until - utcnow()).total_seconds()) + 0.5)
        restarted = subprocess.run(send_command(config_dir), capture_output=True, text=True, timeout=120)
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert "3 sent in 3 message(s)" in restarted.stdout, "the lease ran out: the in-flight alert is sent again"

        subjects = Counter(m.subject for m in sink.wait_for(6))
        time.sleep(0.3)
    assert len(sink.messages) == 6
    assert {subject for subject, count in subjects.items() if count > 1} == {in_flight}
    assert subjects[in_flight] == 2 and len(subjects) == 5
    assert statuses(database) == Counter(sent=5)


def test_200_alerts_pending_across_a_restart_are_all_delivered_none_twice(database: Database,
                                                                          tmp_path: Path) -> None:
    with MailSink() as sink:
        config_dir = write_config(tmp_path / "config", database.url, sink.mailto_url())
        queue(database, 200)
        dispatcher = subprocess.Popen(send_command(config_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True)
        try:
            sink.wait_for(40, timeout=120)
            dispatcher.send_signal(signal.SIGTERM)
            output, _ = dispatcher.communicate(timeout=60)
        finally:
            if dispatcher.poll() is None:
                dispatcher.kill()
        assert dispatcher.returncode == 0, output
        assert "stopped on request" in output
        before_restart = statuses(database)
        assert before_restart["sending"] == 0, "a stop finishes and records the message in hand"
        assert 40 <= before_restart["sent"] < 200 and before_restart["sent"] == len(sink.messages)

        restarted = subprocess.run(send_command(config_dir), capture_output=True, text=True, timeout=300)
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr

        subjects = Counter(m.subject for m in sink.wait_for(200, timeout=60))
        time.sleep(0.3)
    assert len(sink.messages) == 200
    assert subjects == Counter(f"[Korea] Korejská republika — zpráva {n:03d}" for n in range(200))
    assert statuses(database) == Counter(sent=200)
