"""``hlidka run``: the long-lived service.

One APScheduler process owns the schedule: each source is crawled on its own
interval in a child process (the Twisted reactor runs once per process, and a
child that crashes, hangs or leaks cannot take the service down), and the
dispatcher sends queued alerts from a thread of this process. The
configuration is re-read when its files change; an invalid edit is reported
and the last valid configuration stays in force.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from alerts.dispatch import Dispatcher
from config import Config, ConfigError, check_config
from crawler.run import latest_runs
from hlidka.db import Database, open_database, utcnow
from pipelines.matching import lint_watchlist

logger = logging.getLogger("hlidka.service")

DISPATCH_JOB = "dispatch"
RELOAD_JOB = "reload-config"


class AlreadyRunning(RuntimeError):
    """Another ``hlidka run`` holds the lock for this configuration's database."""


def config_fingerprint(directory: Path) -> tuple[tuple[str, float, int], ...]:
    """Cheap change detection: names, mtimes and sizes of every YAML file."""
    files = sorted([*directory.glob("*.yaml"), *directory.glob("watchlists/*.y*ml")])
    fingerprint = []
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        fingerprint.append((str(path), stat.st_mtime, stat.st_size))
    return tuple(fingerprint)


class Service:
    """Schedules crawls and alert dispatch until stopped by SIGINT/SIGTERM."""

    def __init__(self, config: Config, reload_interval: timedelta = timedelta(seconds=30),
                 crawl_command: Callable[[Path, str], list[str]] | None = None, max_parallel_crawls: int = 2):
        self.config = config
        self.reload_interval = reload_interval
        self.crawl_command = crawl_command or self._default_crawl_command
        self.database: Database = open_database(config.database_url)
        self.dispatcher = Dispatcher(self.database, config)
        self.fingerprint = config_fingerprint(config.directory)
        self.snapshot_dir = Path(tempfile.mkdtemp(prefix="hlidka-config-"))
        self.snapshot = self._write_snapshot(config)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.children_lock = threading.Lock()
        # Each crawl child imports Scrapy and starts extraction workers (~3 CPU-seconds):
        # running every source's child at once on a small machine only makes all of them slow.
        self.crawl_slots = threading.BoundedSemaphore(max_parallel_crawls)
        self.stopping = threading.Event()
        self.in_flight = 0
        self.in_flight_changed = threading.Condition()
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=max(4, len(config.sources) + 2))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        self._lock_file: IO[str] | None = None

    # ------------------------------------------------------------------ lifecycle

    def acquire_lock(self) -> None:
        """Two services on one database would crawl and alert twice; the second one refuses."""
        lock_path = Path(self.config.directory).resolve().parent / "data" / "hlidka.lock"
        if self.config.database_url.startswith("sqlite:///"):
            lock_path = Path(self.config.database_url.removeprefix("sqlite:///") + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AlreadyRunning(f"another 'hlidka run' is using this database (lock {lock_path})") from None
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def run(self) -> None:
        self.acquire_lock()
        self._schedule(self.config, first_run=True)
        self.scheduler.add_listener(self._job_submitted, EVENT_JOB_SUBMITTED)
        self.scheduler.add_listener(self._job_done, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self.scheduler.add_job(self.dispatch, IntervalTrigger(seconds=self.config.settings.alerts.dispatch_interval.total_seconds()),
                               id=DISPATCH_JOB, next_run_time=utcnow())
        self.scheduler.add_job(self.reload, IntervalTrigger(seconds=self.reload_interval.total_seconds()), id=RELOAD_JOB)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        self._log_schedule()
        try:
            self.scheduler.start()
        finally:
            self._cleanup()

    def _on_signal(self, signum: int, _frame: object) -> None:
        logger.info("received %s: stopping (running crawls are terminated)", signal.Signals(signum).name)
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        with self.children_lock:
            for child in self.children.values():
                child.terminate()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _job_submitted(self, _event: object) -> None:
        with self.in_flight_changed:
            self.in_flight += 1

    def _job_done(self, _event: object) -> None:
        with self.in_flight_changed:
            self.in_flight -= 1
            self.in_flight_changed.notify_all()

    def _cleanup(self, grace: float = 15.0) -> None:
        """Let running jobs finish (an alert half-sent must be marked), then release everything."""
        deadline = time.monotonic() + grace
        with self.children_lock:
            children = list(self.children.values())
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        with self.in_flight_changed:
            self.in_flight_changed.wait_for(lambda: self.in_flight <= 0, timeout=max(0.1, deadline - time.monotonic()))
        self.database.dispose()
        shutil.rmtree(self.snapshot_dir, ignore_errors=True)
        if self._lock_file:
            self._lock_file.close()
        logger.info("stopped")

    # ------------------------------------------------------------------ schedule

    def _schedule(self, config: Config, first_run: bool = False) -> None:
        wanted = {f"crawl:{s.id}": s for s in config.sources if s.enabled}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("crawl:") and job.id not in wanted:
                job.remove()
        for job_id, source in wanted.items():
            seconds = source.interval.total_seconds()
            trigger = IntervalTrigger(seconds=seconds, jitter=min(seconds * 0.1, 60))
            existing = self.scheduler.get_job(job_id)
            if existing is None:
                self.scheduler.add_job(self.crawl_source, trigger, args=[source.id], id=job_id,
                                       next_run_time=utcnow() if first_run else None)
                if not first_run:
                    self.scheduler.modify_job(job_id, next_run_time=utcnow())
            elif existing.trigger.interval != trigger.interval:
                existing.reschedule(trigger)

    def _log_schedule(self) -> None:
        for source in self.config.sources:
            state = f"every {source.interval}" if source.enabled else "disabled"
            logger.info("source %-20s %s  %s", source.id, state, source.start_urls[0])
        logger.info("alerts dispatched every %s; configuration re-read every %s",
                    self.config.settings.alerts.dispatch_interval, self.reload_interval)

    # ------------------------------------------------------------------ jobs

    def crawl_source(self, source_id: str) -> None:
        with self.crawl_slots:
            if self.stopping.is_set():
                return
            started = utcnow()
            code = self._run_child(source_id)
            if self.stopping.is_set():
                return
            self._report_crawl(source_id, code, started)
        self.scheduler.modify_job(DISPATCH_JOB, next_run_time=utcnow())

    def _run_child(self, source_id: str) -> int | None:
        """Exit code of the crawl child, or None when it ran past its limit and was killed."""
        timeout = self.config.settings.crawl.crawl_timeout.total_seconds()
        logger.info("crawling %s", source_id)
        child = subprocess.Popen(self.crawl_command(self.snapshot, source_id))
        with self.children_lock:
            self.children[source_id] = child
        try:
            code = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            code = None
            logger.error("crawl of %s ran past its limit of %ss: killed", source_id, int(timeout))
        finally:
            with self.children_lock:
                self.children.pop(source_id, None)
        return code

    def _report_crawl(self, source_id: str, code: int | None, started: datetime) -> None:
        runs = [r for r in latest_runs(self.config, [source_id]) if r.started_at >= started]
        if not runs:
            logger.error("crawl of %s failed before recording its run (exit code %s)", source_id, code)
        elif runs[0].status == "ok":
            logger.info("crawled %s: %d pages, %d new articles", source_id, runs[0].pages, runs[0].articles_new)
        else:
            logger.error("crawl of %s failed: %s", source_id, runs[0].message)

    def dispatch(self) -> None:
        report = self.dispatcher.run_once()
        if report.sent or report.retried or report.failed:
            logger.info("alerts: %d sent, %d to retry, %d failed, %d waiting",
                        report.sent, report.retried, report.failed, report.waiting)

    def reload(self) -> None:
        fingerprint = config_fingerprint(self.config.directory)
        if fingerprint == self.fingerprint:
            return
        self.fingerprint = fingerprint
        config, issues = check_config(self.config.directory, linters=(lint_watchlist,))
        if config is None:
            logger.error("configuration change rejected; keeping the last valid configuration:\n%s",
                         "\n".join(str(i) for i in issues if i.level == "error"))
            return
        if config.database_url != self.config.database_url:
            logger.error("a database change needs a restart; keeping %s", "the current database")
            return
        self.config = config
        self.snapshot = self._write_snapshot(config)
        self.dispatcher = Dispatcher(self.database, config)
        self._schedule(config)
        logger.info("configuration reloaded: %d sources, %d watchlists", len(config.sources), len(config.watchlists))

    # ------------------------------------------------------------------ children

    def _write_snapshot(self, config: Config) -> Path:
        """The crawl children get the validated config the service holds, not the files as they are now."""
        path = self.snapshot_dir / f"config-{utcnow().timestamp():.6f}.pickle"
        with path.open("wb") as handle:
            pickle.dump(config, handle)
        for old in sorted(self.snapshot_dir.glob("config-*.pickle"))[:-2]:
            old.unlink()  # keep the previous one: a child that just started may still be reading it
        return path

    @staticmethod
    def _default_crawl_command(snapshot: Path, source_id: str) -> list[str]:
        return [sys.executable, "-m", "hlidka", "crawl", "--snapshot", str(snapshot), "--source", source_id, "--no-send"]


def run_service(config_dir: Path) -> int:
    try:
        config, issues = check_config(config_dir, linters=(lint_watchlist,))
        if config is None:
            raise ConfigError(issues)
    except ConfigError as exc:
        logger.error("cannot start: the configuration has errors:\n%s", exc)
        return 2
    for warning in config.warnings:
        logger.warning("%s", warning)
    try:
        Service(config).run()
    except AlreadyRunning as exc:
        logger.error("%s", exc)
        return 3
    return 0
