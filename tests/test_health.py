"""Source health: judged from recorded runs, reported once when a source breaks and once when it heals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.health import check_source, judge
from config import Config
from config.schema import Channel, HealthSettings, Settings, Source
from hlidka.db import Alert, CrawlRun, Database, utcnow
from hlidka.db.models import SourceHealth
from hlidka.fixtureweb import FixtureWeb
from hlidka.mailsink import MailSink
from support.running_service import (
    OPS_ADDRESS,
    database_of,
    finished_runs,
    operations_alerts,
    running_service,
    wait_until,
    write_service_config,
)

THRESHOLDS = HealthSettings(failed_runs=3, empty_listing_runs=2, empty_extraction_runs=2)


def config_with_ops(tmp_path: Path) -> Config:
    settings = Settings.model_validate({
        "channels": {"ops": Channel(url="json://127.0.0.1:9/ops").model_dump()},
        "alerts": {"operations_channels": ["ops"]},
        "service": {"health": THRESHOLDS.model_dump()},
    })
    source = Source(id="mocr", name="Ministerstvo obrany", start_urls=["https://mocr.example/zpravy/"])
    return Config(directory=tmp_path, settings=settings, sources=(source,), watchlists=())


def record(database: Database, *runs: dict[str, Any]) -> None:
    """Runs oldest first; each is a healthy run unless the dict says otherwise."""
    start = utcnow() - timedelta(hours=1)
    with database.session() as session, session.begin():
        for index, changes in enumerate(runs):
            values: dict[str, Any] = {"source_id": "mocr", "status": "ok", "pages": 3, "article_links": 10,
                                      "articles_found": 0, "articles_new": 0, "articles_rejected": 0,
                                      "started_at": start + timedelta(minutes=index),
                                      "finished_at": start + timedelta(minutes=index, seconds=20)}
            session.add(CrawlRun(**(values | changes)))


def verdict_of(database: Database) -> tuple[bool, str | None]:
    with database.session() as session:
        verdict, _newest = judge(session, "mocr", THRESHOLDS)
    return verdict.broken, verdict.reason


FAILED = {"status": "failed", "article_links": None, "message": "finish reason 'finished'; listing pages read: 0"}
UNCHANGED = {"article_links": None}  # the listing answered 304: no body, no links counted


@pytest.mark.parametrize(("runs", "expected"), [
    ([{}, FAILED, FAILED], (False, None)),
    ([{}, FAILED, FAILED, FAILED], (True, "failed_runs")),
    ([FAILED, FAILED, {"status": "interrupted"}, FAILED], (True, "failed_runs")),
    ([{}, {"article_links": 0}], (False, None)),
    ([{}, {"article_links": 0}, {"article_links": 0}], (True, "empty_listing")),
    # after a layout change the empty listing is usually revalidated, not re-read: it keeps counting
    ([{}, {"article_links": 0}, UNCHANGED], (True, "empty_listing")),
    # an unchanged listing after a full one is still the full one
    ([{}, UNCHANGED, UNCHANGED, UNCHANGED], (False, None)),
    # a source that never yielded links is misconfigured, not broken by a change
    ([{"article_links": 0}, {"article_links": 0}, {"article_links": 0}], (False, None)),
    ([{"articles_new": 3}, {"articles_rejected": 4}, {}, {"articles_rejected": 2}], (True, "empty_extraction")),
    ([{"articles_new": 3}, {"articles_rejected": 4}, {"articles_new": 1, "articles_rejected": 1}], (False, None)),
    ([{"articles_rejected": 4}, {"articles_rejected": 4}], (False, None)),
])
def test_verdicts(database: Database, runs: list[dict[str, Any]], expected: tuple[bool, str | None]) -> None:
    record(database, *runs)
    assert verdict_of(database) == expected


def test_a_broken_source_is_reported_once_and_its_recovery_once(database: Database, tmp_path: Path) -> None:
    config = config_with_ops(tmp_path)
    record(database, {}, {"article_links": 0})
    assert check_source(database, config, "mocr") is None
    record(database, {"article_links": 0})
    change = check_source(database, config, "mocr")
    assert change is not None and change.event == "broken" and change.verdict.reason == "empty_listing"
    record(database, UNCHANGED)
    assert check_source(database, config, "mocr") is None, "still broken: no second notice"
    record(database, {"article_links": 7})
    change = check_source(database, config, "mocr")
    assert change is not None and change.event == "recovered"
    assert check_source(database, config, "mocr") is None

    with database.session() as session:
        notices = list(session.scalars(select(Alert).where(Alert.kind == "operations").order_by(Alert.id)))
        state = session.get_one(SourceHealth, "mocr")
    assert [(n.subject, n.channel, n.status) for n in notices] == [
        ("source mocr is broken", "ops", "pending"), ("source mocr works again", "ops", "pending")]
    assert "no article links for 2 runs" in (notices[0].body or "")
    assert "https://mocr.example/zpravy/" in (notices[0].body or "")
    assert "hlidka crawl --source mocr" in (notices[0].body or "")
    assert state.state == "ok" and state.reason is None


def test_a_redesigned_listing_raises_one_operations_alert_and_one_recovery_notice(tmp_path: Path) -> None:
    with FixtureWeb() as web, MailSink() as mail:
        directory = write_service_config(tmp_path / "config", web, smtp=mail, sources=["mocr"], interval="2s")
        with database_of(directory) as database, running_service(directory):
            wait_until(lambda: [r for r in finished_runs(database, "mocr") if (r.article_links or 0) > 0],
                       what="a run that reads the listing")
            web.redesign("mocr")
            broken = wait_until(lambda: [a for a in operations_alerts(database) if "broken" in (a.subject or "")],
                                what="the operations alert for the empty listing")
            assert "no article links" in (broken[0].body or "")
            wait_until(lambda: ops_mail(mail, "broken"), what="the alert to reach the operations channel")
            runs_when_reported = len(finished_runs(database, "mocr"))
            wait_until(lambda: len(finished_runs(database, "mocr")) >= runs_when_reported + 2,
                       what="two more runs of the broken source")
            web.redesign("mocr", redesigned=False)
            wait_until(lambda: ops_mail(mail, "works again"), what="the recovery notice")
            notices = [a.subject for a in operations_alerts(database)]
    assert notices == ["source mocr is broken", "source mocr works again"]
    assert len(ops_mail(mail, "broken")) == 1 and len(ops_mail(mail, "works again")) == 1
    analysts = [m for m in mail.messages if OPS_ADDRESS not in m.to]
    assert analysts, "article alerts go to the analysts, not to the operations channel"


def ops_mail(mail: MailSink, words: str) -> list[str]:
    return [m.subject for m in mail.messages if OPS_ADDRESS in m.to and words in m.subject]
