"""A real ``Service`` running in a thread of the test, on a fixture-web configuration.

The service is the same object ``hlidka run`` runs (scheduler, crawl children
forked from the warmed template process, dispatcher); only the signal handlers
are left out, since they belong to a main thread. Tests stop it with
:meth:`Service.stop`, as SIGTERM would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from alerts.crawls import CrawlCommand
from alerts.service import Service
from config import Config, load_config
from hlidka.db import Alert, CrawlRun, Database, open_database
from hlidka.fixtureweb import FixtureWeb, write_fixture_config
from pipelines.matching import lint_watchlist

OPS_ADDRESS = "ops@example.org"


def write_service_config(dest: Path, web: FixtureWeb, *, smtp: Any = None, sources: Sequence[str] | None = None,
                         interval: str = "5s", service: Mapping[str, Any] | None = None,
                         source_changes: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """The fixture configuration with quick schedules (no jitter), a short reload interval and, with a
    mail sink, an ``ops`` channel (to :data:`OPS_ADDRESS`) for operations alerts."""
    directory = write_fixture_config(dest, web.base_url, smtp_port=smtp.port if smtp else None)
    sources_path = directory / "sources.yaml"
    data = yaml.safe_load(sources_path.read_text(encoding="utf-8"))
    kept = [s for s in data["sources"] if sources is None or s["id"] in sources]
    for source in kept:
        source.update({"interval": interval, "jitter": "0s", **(source_changes or {}).get(source["id"], {})})
    sources_path.write_text(yaml.safe_dump({"sources": kept}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    settings_path = directory / "settings.yaml"
    settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
    settings["service"] = {"reload_interval": "1s", **(service or {})}
    if smtp is not None:
        settings["channels"]["ops"] = {"url": smtp.mailto_url(to=OPS_ADDRESS), "description": "operations"}
        settings.setdefault("alerts", {})["operations_channels"] = ["ops"]
    settings_path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return directory


def load(directory: Path) -> Config:
    return load_config(directory, linters=(lint_watchlist,))


@contextmanager
def running_service(directory: Path, crawl_command: CrawlCommand | None = None) -> Iterator[Service]:
    service = Service(load(directory), crawl_command=crawl_command)
    outcome: dict[str, Any] = {}

    def serve() -> None:
        try:
            outcome["code"] = service.run()
        except BaseException as exc:  # re-raised in the test's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=serve, name="service-under-test")
    thread.start()
    try:
        yield service
    finally:
        service.stop()
        thread.join(timeout=60)
    assert not thread.is_alive(), "the service did not stop within 60 s"
    if "error" in outcome:
        raise outcome["error"]
    assert outcome["code"] == 0


def wait_until(check: Callable[[], Any], timeout: float = 90.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextmanager
def database_of(directory: Path) -> Iterator[Database]:
    database = open_database(load(directory).database_url)
    try:
        yield database
    finally:
        database.dispose()


def finished_runs(database: Database, source_id: str) -> list[CrawlRun]:
    with database.session() as session:
        return list(session.scalars(select(CrawlRun).where(CrawlRun.source_id == source_id,
                                                           CrawlRun.status != "running").order_by(CrawlRun.id)))


def operations_alerts(database: Database) -> list[Alert]:
    with database.session() as session:
        return list(session.scalars(select(Alert).where(Alert.kind == "operations").order_by(Alert.id)))
