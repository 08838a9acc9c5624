"""``hlidka run`` as users run it: a process that schedules, crawls, alerts and stops on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hlidka.fixtureweb import FixtureWeb, write_fixture_config
from hlidka.mailsink import MailSink


def closed_port() -> int:
    """A loopback port nobody listens on: the 'site' of a source whose server is gone."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def service_config(tmp_path: Path) -> Iterator[tuple[Path, FixtureWeb, MailSink]]:
    with FixtureWeb() as web, MailSink() as mail:
        directory = write_fixture_config(tmp_path / "config", web.base_url, smtp_port=mail.port)
        sources_path = directory / "sources.yaml"
        sources = yaml.safe_load(sources_path.read_text(encoding="utf-8"))
        sources["sources"].append({
            "id": "gone", "kind": "html", "interval": "10s",
            "start_urls": [f"http://127.0.0.1:{closed_port()}/news/"],
        })
        sources_path.write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
        yield directory, web, mail


def test_service_crawls_alerts_survives_a_dead_source_and_stops_on_sigterm(
    service_config: tuple[Path, FixtureWeb, MailSink], tmp_path: Path
) -> None:
    directory, _web, mail = service_config
    log_path = tmp_path / "service.log"
    with log_path.open("w") as log:
        service = subprocess.Popen([sys.executable, "-m", "hlidka", "run", "--config", str(directory)],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            mail.wait_for(5, timeout=120)
            deadline = time.monotonic() + 60
            while "crawl of gone failed" not in log_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.5)
            assert service.poll() is None, "the service must keep running"
            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=30) == 0
        finally:
            if service.poll() is None:
                service.kill()
    output = log_path.read_text()
    for source in ("mocr", "zpravy", "ua", "gone"):
        assert f"source {source}" in output, f"schedule of {source} not logged"
    assert "crawl of gone failed" in output
    assert "received SIGTERM" in output and output.rstrip().endswith("stopped")


def test_second_service_on_the_same_database_refuses_to_start(
    service_config: tuple[Path, FixtureWeb, MailSink]
) -> None:
    directory, _web, _mail = service_config
    first = subprocess.Popen([sys.executable, "-m", "hlidka", "run", "--config", str(directory)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = directory / "hlidka.db.lock"  # next to the fixture configuration's SQLite file
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        second = subprocess.run([sys.executable, "-m", "hlidka", "run", "--config", str(directory)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 3
        assert "another 'hlidka run' is using this database" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0


def test_a_standby_service_takes_over_when_the_first_one_stops(
    service_config: tuple[Path, FixtureWeb, MailSink], tmp_path: Path
) -> None:
    directory, _web, _mail = service_config
    command = [sys.executable, "-m", "hlidka", "run", "--config", str(directory)]
    first_log, standby_log = tmp_path / "first.log", tmp_path / "standby.log"
    with first_log.open("w") as first_out, standby_log.open("w") as standby_out:
        first = subprocess.Popen(command, stdout=first_out, stderr=subprocess.STDOUT)
        standby = None
        try:
            wait_for_text(first_log, "crawling")
            standby = subprocess.Popen([*command, "--standby"], stdout=standby_out, stderr=subprocess.STDOUT)
            wait_for_text(standby_log, "standby: another 'hlidka run' holds the schedule")
            assert "crawling" not in standby_log.read_text()
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=60) == 0
            wait_for_text(standby_log, "standby: the lock is free; taking over the schedule")
            wait_for_text(standby_log, "crawling")
            standby.send_signal(signal.SIGTERM)
            assert standby.wait(timeout=60) == 0
        finally:
            for process in (first, standby):
                if process is not None and process.poll() is None:
                    process.kill()
    held_by = standby_log.read_text().split("standby: another 'hlidka run' holds the schedule (", 1)[1]
    assert held_by.startswith("held by "), "the standby names the service it waits for"


def wait_for_text(path: Path, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert time.monotonic() < deadline, f"{text!r} not in {path.name} after {timeout:.0f} s"
        time.sleep(0.3)


def test_service_refuses_to_start_on_invalid_configuration(tmp_path: Path) -> None:
    directory = write_fixture_config(tmp_path / "config", "http://127.0.0.1:9")
    (directory / "watchlists" / "broken.yaml").write_text("any: [Korea]\nmin_hits: 2\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "hlidka", "run", "--config", str(directory)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "broken.yaml:2: error: min_hits: unknown key" in result.stderr
