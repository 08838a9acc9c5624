"""The persistent crawl schedule: kept across restarts, coalesced after downtime, repaired after clock changes."""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, text

from alerts import jobs
from config import Config
from config.schema import Settings, Source
from hlidka.db import CrawlRun, Database, utcnow
from hlidka.fixtureweb import FixtureWeb
from support.running_service import database_of, finished_runs, running_service, wait_until, write_service_config

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def make_config(tmp_path: Path, *sources: dict[str, object]) -> Config:
    return Config(directory=tmp_path, settings=Settings(),
                  sources=tuple(Source.model_validate({"start_urls": ["https://example.org/"], **s}) for s in sources),
                  watchlists=())


@pytest.fixture
def scheduler_on(database: Database) -> Iterator[object]:
    """Paused schedulers on the test database's job store, as the service starts them; stopped afterwards."""
    started: list[BackgroundScheduler] = []

    def start() -> BackgroundScheduler:
        scheduler = BackgroundScheduler(jobstores={jobs.JOBSTORE: SQLAlchemyJobStore(engine=database.engine)},
                                        executors={jobs.EXECUTOR: ThreadPoolExecutor(1)}, timezone=UTC)
        scheduler.start(paused=True)
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        if scheduler.running:
            jobs.shutdown(scheduler)


def next_runs(scheduler: BackgroundScheduler) -> dict[str, datetime]:
    return {job.id: job.next_run_time for job in scheduler.get_jobs(jobstore=jobs.JOBSTORE)}


def test_a_restarted_scheduler_keeps_every_next_run_and_applies_edits(tmp_path: Path, scheduler_on) -> None:  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, {"id": "fresh", "interval": "15m"}, {"id": "seen", "interval": "30m"},
                         {"id": "daily", "cron": "0 7 * * 1-5", "timezone": "Europe/Prague"})
    first = scheduler_on()
    report = jobs.sync_jobs(first, config, {"seen": NOW - timedelta(minutes=10)}, NOW)
    assert sorted(report.added) == ["daily", "fresh", "seen"]
    before = next_runs(first)
    assert before["crawl:fresh"] == NOW, "never crawled: due now"
    assert NOW + timedelta(minutes=20) <= before["crawl:seen"] <= NOW + timedelta(minutes=21), "30 min after its last run"
    assert before["crawl:daily"] == NOW, "never crawled: due now, then on its cron slots"
    jobs.shutdown(first)

    second = scheduler_on()
    later = NOW + timedelta(minutes=3)
    report = jobs.sync_jobs(second, config, {"seen": NOW - timedelta(minutes=10)}, later)
    assert sorted(report.kept) == ["daily", "fresh", "seen"] and not report.added
    assert next_runs(second) == before, "a restart keeps the stored next runs"

    edited = make_config(tmp_path, {"id": "fresh", "interval": "5m"}, {"id": "daily", "cron": "0 7 * * 1-5",
                                                                      "timezone": "Europe/Prague"})
    report = jobs.sync_jobs(second, edited, {"fresh": NOW}, later)
    assert report.rescheduled == ["fresh"] and report.removed == ["seen"]
    job = second.get_job("crawl:fresh", jobstore=jobs.JOBSTORE)
    assert job.name == "fresh: every 5m ±30s" and job.trigger.interval == timedelta(minutes=5)
    assert NOW + timedelta(minutes=5) <= job.next_run_time <= NOW + timedelta(minutes=5, seconds=30)
    daily = second.get_job("crawl:daily", jobstore=jobs.JOBSTORE)
    assert isinstance(daily.trigger, CronTrigger)
    monday_7 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC) + timedelta(hours=-1)  # 07:00 in Prague is 06:00 UTC in March
    assert daily.trigger.get_next_fire_time(None, monday_7 - timedelta(minutes=1)) == monday_7


def test_stored_options_and_a_job_whose_function_moved_are_repaired(
        tmp_path: Path, database: Database, scheduler_on) -> None:  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, {"id": "mocr", "interval": "15m"}, {"id": "ua", "interval": "15m"})
    first = scheduler_on()
    jobs.sync_jobs(first, config, {}, NOW)
    first.modify_job("crawl:mocr", jobstore=jobs.JOBSTORE, coalesce=False, max_instances=3)
    jobs.shutdown(first)
    with database.engine.begin() as connection:  # the function of "ua" was renamed in an upgrade
        state = pickle.loads(connection.execute(text("SELECT job_state FROM apscheduler_jobs WHERE id = 'crawl:ua'")).scalar_one())
        state["func"] = "alerts.removed_module:crawl_job"
        connection.execute(text("UPDATE apscheduler_jobs SET job_state = :state WHERE id = 'crawl:ua'"),
                           {"state": pickle.dumps(state)})

    second = scheduler_on()
    report = jobs.sync_jobs(second, config, {}, NOW)
    assert report.added == ["ua"] and report.kept == ["mocr"]
    for job in second.get_jobs(jobstore=jobs.JOBSTORE):
        assert (job.func_ref, job.coalesce, job.max_instances, job.misfire_grace_time) == (
            jobs.CRAWL_FUNC, True, 1, None)


def test_next_runs_pushed_away_by_a_clock_set_back_are_brought_back(tmp_path: Path, scheduler_on) -> None:  # type: ignore[no-untyped-def]
    config = make_config(tmp_path, {"id": "mocr", "interval": "15m"}, {"id": "ua", "interval": "15m"},
                         {"id": "daily", "cron": "0 7 * * *"})
    scheduler = scheduler_on()
    jobs.sync_jobs(scheduler, config, {}, NOW)
    # The jobs were stored while the clock ran three hours ahead; "ua" is simply due in ten minutes.
    scheduler.modify_job("crawl:mocr", jobstore=jobs.JOBSTORE, next_run_time=NOW + timedelta(hours=3))
    scheduler.modify_job("crawl:ua", jobstore=jobs.JOBSTORE, next_run_time=NOW + timedelta(minutes=10))
    scheduler.modify_job("crawl:daily", jobstore=jobs.JOBSTORE, next_run_time=NOW + timedelta(days=3))
    assert sorted(jobs.pull_back_far_runs(scheduler, NOW)) == ["crawl:daily", "crawl:mocr"]
    runs = next_runs(scheduler)
    assert runs["crawl:mocr"] == NOW
    assert runs["crawl:ua"] == NOW + timedelta(minutes=10)
    assert runs["crawl:daily"] == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)


def started_between(runs: list[CrawlRun], start: datetime, end: datetime) -> list[CrawlRun]:
    return [r for r in runs if start <= r.started_at < end]


def test_a_restart_mid_schedule_resumes_without_a_burst_of_runs(tmp_path: Path) -> None:
    with FixtureWeb() as web:
        directory = write_service_config(tmp_path / "config", web, sources=["mocr", "zpravy"], interval="10s",
                                         source_changes={"mocr": {"interval": "1h"}})
        with database_of(directory) as database:
            with running_service(directory):
                wait_until(lambda: finished_runs(database, "mocr") and len(finished_runs(database, "zpravy")) >= 2,
                           what="both sources crawled, zpravy twice")
            with database.session() as session:
                stored = dict(session.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all())
            zpravy_next = datetime.fromtimestamp(stored["crawl:zpravy"], UTC)
            assert zpravy_next > utcnow() - timedelta(seconds=10)
            # Down long enough to miss three slots of zpravy; back one second after a slot.
            restart_at = zpravy_next + timedelta(seconds=21)
            time.sleep(max(0.0, (restart_at - utcnow()).total_seconds()))
            mocr_before = len(finished_runs(database, "mocr"))
            restarted = utcnow()
            with running_service(directory):
                wait_until(lambda: started_between(finished_runs(database, "zpravy"), restarted, restarted + timedelta(hours=1)),
                           what="the catch-up run")
                time.sleep(max(0.0, (restarted + timedelta(seconds=8) - utcnow()).total_seconds()))
                with database.session() as session:
                    zpravy = list(session.scalars(select(CrawlRun).where(CrawlRun.source_id == "zpravy")))
                assert len(started_between(zpravy, restarted, restarted + timedelta(seconds=8))) == 1, \
                    "three missed slots are one catch-up run, not a burst"
                assert len(finished_runs(database, "mocr")) == mocr_before, "crawled minutes ago: not again at start"
            with database.session() as session:
                after = dict(session.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all())
            assert after["crawl:mocr"] == stored["crawl:mocr"], "the hourly source keeps its next run across restarts"
