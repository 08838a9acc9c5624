"""The crawl schedule: one persistent APScheduler job per enabled source.

The jobs live in the database (APScheduler's SQLAlchemy job store), so the
next run of every source survives a restart: a source crawled five minutes
before a restart is not crawled again at start-up, and one whose runs were
missed during the downtime runs once (``coalesce``), not once per missed slot.

What APScheduler 3 keeps in its store shapes this module:

* a job refers to its function by name (``alerts.jobs:crawl_job``); a job whose
  function cannot be imported is deleted by the store, and the next start
  re-creates it from the configuration;
* a job's options (coalesce, max_instances, grace time) are stored with it, so
  every start re-checks them against :data:`CRAWL_OPTIONS` instead of trusting
  the defaults of the scheduler;
* the job's ``name`` holds the schedule it was made from, so an edited interval
  or cron expression is noticed and applied, and an unchanged one keeps its
  stored next run time.

The scheduler's clock is the wall clock. A wall clock set back (by hand, or by a
first NTP sync on a machine without an RTC) would push every next run into the
future by the same amount; :func:`pull_back_far_runs` brings such runs back.
"""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from alerts.schedule import crontab
from config import Config, Source

logger = logging.getLogger("hlidka.service")

JOBSTORE = "sources"
EXECUTOR = "crawls"
JOB_PREFIX = "crawl:"
CRAWL_FUNC = "alerts.jobs:crawl_job"
#: One run per source at a time; missed runs after downtime collapse into one, however late.
CRAWL_OPTIONS: dict[str, object] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
#: Interval sources get this share of their interval as random delay unless they set ``jitter``.
DEFAULT_JITTER_SHARE = 0.1
DEFAULT_JITTER_MAX = timedelta(minutes=1)
#: A next run this much beyond where the schedule could put it means the clock went back.
CLOCK_SLACK = timedelta(minutes=1)

_crawl: Callable[[str], None] | None = None


def bind(crawl: Callable[[str], None] | None) -> None:
    """Route stored jobs to the running service's crawl function (None when it stops)."""
    global _crawl
    _crawl = crawl


def crawl_job(source_id: str) -> None:
    """The function every stored crawl job names; it survives any restructuring of the service."""
    if _crawl is None:
        raise RuntimeError(f"no service is running to crawl {source_id}")
    _crawl(source_id)


def job_id(source_id: str) -> str:
    return JOB_PREFIX + source_id


# --------------------------------------------------------------------------- triggers


def jitter_of(source: Source) -> timedelta:
    if source.jitter is not None:
        return source.jitter
    if source.cron is not None:
        return timedelta(0)
    return min(source.interval * DEFAULT_JITTER_SHARE, DEFAULT_JITTER_MAX)


def trigger_for(source: Source) -> BaseTrigger:
    jitter = int(jitter_of(source).total_seconds()) or None
    if source.cron is not None:
        trigger = copy.copy(crontab(source.cron, source.timezone))  # the parsed trigger is cached and shared
        trigger.jitter = jitter
        return trigger
    return IntervalTrigger(seconds=max(1, int(source.interval.total_seconds())), jitter=jitter, timezone="UTC")


def describe_schedule(source: Source) -> str:
    """What the job's name stores and ``hlidka status`` shows: the schedule as configured."""
    jitter = int(jitter_of(source).total_seconds())
    if source.cron is not None:
        text = f"cron '{source.cron}' {source.timezone}"
    else:
        text = f"every {_duration(source.interval)}"
    return text + (f" ±{_duration(timedelta(seconds=jitter))}" if jitter else "")


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def first_run_time(source: Source, last_started: datetime | None, now: datetime) -> datetime:
    """Where a new or rescheduled job starts: due now if never crawled or overdue, else one period after the last run."""
    if last_started is None:
        return now
    if source.cron is not None:
        due = crontab(source.cron, source.timezone).get_next_fire_time(None, last_started)
    else:
        due = last_started + source.interval
    return now if due is None or due <= now else due + timedelta(seconds=random.uniform(0, jitter_of(source).total_seconds()))


# --------------------------------------------------------------------------- reconciling the store with the config


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def sync_jobs(scheduler: BaseScheduler, config: Config, last_started: Mapping[str, datetime], now: datetime) -> SyncReport:
    """Make the stored jobs match the enabled sources, keeping every unchanged job's next run."""
    report = SyncReport()
    wanted = {job_id(s.id): s for s in config.sources if s.enabled}
    for job in scheduler.get_jobs(jobstore=JOBSTORE):
        if job.id not in wanted:
            scheduler.remove_job(job.id, jobstore=JOBSTORE)
            report.removed.append(job.id.removeprefix(JOB_PREFIX))
    for identifier, source in wanted.items():
        job = scheduler.get_job(identifier, jobstore=JOBSTORE)
        schedule = f"{source.id}: {describe_schedule(source)}"  # APScheduler names the job in its log lines
        if job is None:
            scheduler.add_job(CRAWL_FUNC, trigger_for(source), args=[source.id], id=identifier, name=schedule,
                              jobstore=JOBSTORE, executor=EXECUTOR, replace_existing=True,
                              next_run_time=first_run_time(source, last_started.get(source.id), now), **CRAWL_OPTIONS)
            report.added.append(source.id)
            continue
        changes = _stale_options(job, source)
        if job.name != schedule:
            changes |= {"trigger": trigger_for(source), "name": schedule,
                        "next_run_time": first_run_time(source, last_started.get(source.id), now)}
            report.rescheduled.append(source.id)
        else:
            report.kept.append(source.id)
        if changes:
            scheduler.modify_job(identifier, jobstore=JOBSTORE, **changes)
    return report


def _stale_options(job: Job, source: Source) -> dict[str, object]:
    changes: dict[str, object] = {key: value for key, value in CRAWL_OPTIONS.items() if getattr(job, key) != value}
    if job.executor != EXECUTOR:
        changes["executor"] = EXECUTOR
    if job.func_ref != CRAWL_FUNC or tuple(job.args) != (source.id,):
        changes |= {"func": CRAWL_FUNC, "args": [source.id], "kwargs": {}}
    return changes


def shutdown(scheduler: BaseScheduler) -> None:
    """Stop the scheduler without letting it touch the stored jobs on its way out.

    APScheduler 3 makes one more pass over due jobs after ``shutdown()`` has
    stopped its executors: a stored job due at that moment is marked as run (its
    next run moved on) although it could not be submitted. Detaching the job
    store first leaves every stored next run as it was, due at the next start.
    """
    scheduler.pause()
    scheduler.remove_jobstore(JOBSTORE, shutdown=False)  # the engine is the service's; it disposes of it
    scheduler.remove_all_jobs()
    scheduler.shutdown(wait=False)


# --------------------------------------------------------------------------- clock changes


def latest_sensible_run(job: Job, now: datetime) -> datetime | None:
    """The furthest a next run can lie ahead of ``now`` under the job's own trigger (None: unknown)."""
    trigger = job.trigger
    jitter = timedelta(seconds=getattr(trigger, "jitter", None) or 0)
    if isinstance(trigger, IntervalTrigger):
        return now + trigger.interval + jitter + CLOCK_SLACK
    if isinstance(trigger, CronTrigger):
        upcoming = trigger.get_next_fire_time(None, now)
        return None if upcoming is None else upcoming + jitter + CLOCK_SLACK
    return None


def pull_back_far_runs(scheduler: BaseScheduler, now: datetime) -> list[str]:
    """Bring back next runs that lie further ahead than their trigger allows (the clock was set back)."""
    moved = []
    for job in scheduler.get_jobs():
        if job.next_run_time is None:
            continue
        limit = latest_sensible_run(job, now)
        if limit is not None and job.next_run_time > limit:
            trigger = job.trigger
            target = now if isinstance(trigger, IntervalTrigger) else trigger.get_next_fire_time(None, now)
            scheduler.modify_job(job.id, next_run_time=target)
            moved.append(job.id)
    return moved
