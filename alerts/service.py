"""``hlidka run``: the long-lived service.

One APScheduler process owns the schedule; it is the only one on its database
(:mod:`alerts.instance`), a second ``hlidka run`` refuses to start or waits as
a standby. Each enabled source has a job in the database (:mod:`alerts.jobs`),
so the next run of every source survives restarts and missed runs are
coalesced. A due source is crawled in a child process (:mod:`alerts.crawls`):
a crash, hang or leak there is a failed run, never a dead service. After each
run the source's health is judged (:mod:`alerts.health`) and a breakage or
recovery is reported once to the operations channels (:mod:`alerts.ops`).

The dispatcher sends queued alerts from a thread of this process. The
configuration files are re-read when their contents change: a valid edit is
applied without a restart (crawl children get the new configuration, sources
are rescheduled); an invalid one is reported (log and operations alert) and
the last valid configuration stays in force.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from alerts import jobs
from alerts.crawls import (
    CommandLauncher,
    CrawlCommand,
    CrawlQueue,
    ForkLauncher,
    Launcher,
    interrupt_stale_runs,
    newest_run_id,
    settle_runs,
    watch,
)
from alerts.dispatch import Dispatcher
from alerts.health import check_source
from alerts.instance import AlreadyRunning, InstanceLock, beat, mark_stopped
from alerts.ops import queue_notice
from config import Config, ConfigError, check_config
from hlidka.db import CrawlRun, open_database, utcnow
from hlidka.logs import format_from_environment, use_format
from pipelines.matching import lint_watchlist

logger = logging.getLogger("hlidka.service")

DISPATCH_JOB = "dispatch"
RELOAD_JOB = "reload-config"
HOUSEKEEPING_JOB = "housekeeping"
#: Heartbeat and lock check; also how soon ``hlidka status`` notices a dead service.
HOUSEKEEPING_INTERVAL = timedelta(seconds=10)
#: Threads of the crawl executor: one per source waiting or crawling; only as many exist as are used.
CRAWL_THREADS = 500
#: How long a stopping service lets crawl children close their runs before killing them.
STOP_GRACE = 15.0
#: A wall clock that moved this much against the monotonic clock was set back or forward.
CLOCK_JUMP = timedelta(seconds=30)
EXIT_LOCK_LOST = 4


def config_fingerprint(directory: Path) -> str:
    """Hash of every YAML file's name and contents: an edit is noticed even when size and mtime are kept."""
    digest = hashlib.sha256()
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("watchlists/*.y*ml")]):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


class Service:
    """Schedules crawls and alert dispatch until stopped by SIGINT/SIGTERM (or :meth:`stop`)."""

    def __init__(self, config: Config, crawl_command: CrawlCommand | None = None, standby: bool = False):
        self.config = config
        self.standby = standby
        self.database = open_database(config.database_url)
        self.dispatcher = Dispatcher(self.database, config, should_stop=lambda: self.stopping.is_set())
        self.fingerprint = config_fingerprint(config.directory)
        self.rejected = False
        self.log_format = format_from_environment() or config.settings.service.log_format
        self.snapshot_dir = Path(tempfile.mkdtemp(prefix="hlidka-config-"))
        self.snapshot = self._write_snapshot(config)
        self.launcher: Launcher = CommandLauncher(crawl_command) if crawl_command else ForkLauncher()
        self.queue = CrawlQueue(self._run_batch, self._crawl_limits)
        self.stopping = threading.Event()
        #: Set when the stop grace is over: children still running are killed.
        self.kill_children = threading.Event()
        self.busy = 0
        self.busy_changed = threading.Condition()
        self.lock = InstanceLock(self.database)
        self.started_at = utcnow()
        self.exit_code = 0
        self.metrics_server: Any = None
        self.scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore(), jobs.JOBSTORE: SQLAlchemyJobStore(engine=self.database.engine)},
            executors={"default": ThreadPoolExecutor(4), jobs.EXECUTOR: ThreadPoolExecutor(CRAWL_THREADS)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> int:
        """Serve until stopped; the exit code for ``hlidka run``."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._on_signal)
        try:
            acquired = self.lock.acquire(self.standby, self.stopping)
        except AlreadyRunning:
            self._release()
            raise
        if not acquired:  # stopped while waiting as a standby
            self._release()
            return 0
        try:
            self._start()
            while not self.stopping.wait(1.0):
                pass
        finally:
            self._shutdown()
        return self.exit_code

    def _start(self) -> None:
        use_format(self.log_format)
        # Runs still "running" belong to crawl processes of a service that was killed (a `hlidka crawl`
        # run by hand meanwhile records its own result when it ends, over this).
        stale = interrupt_stale_runs(self.database, utcnow())
        if stale:
            logger.warning("%d crawl runs left running by a previous service recorded as interrupted", stale)
        jobs.bind(self.crawl_source)
        self.scheduler.start(paused=True)
        report = jobs.sync_jobs(self.scheduler, self.config, self._last_started(), utcnow())
        jobs.pull_back_far_runs(self.scheduler, utcnow())
        alerts = self.config.settings.alerts
        self.scheduler.add_job(self.dispatch, IntervalTrigger(seconds=alerts.dispatch_interval.total_seconds()),
                               id=DISPATCH_JOB, next_run_time=utcnow())
        self.scheduler.add_job(self.reload, self._reload_trigger(self.config), id=RELOAD_JOB)
        self.scheduler.add_job(self.housekeeping, IntervalTrigger(seconds=HOUSEKEEPING_INTERVAL.total_seconds()),
                               id=HOUSEKEEPING_JOB, next_run_time=utcnow())
        self._log_schedule(report)
        self._start_metrics()
        threading.Thread(target=self._watch_clock, name="clock-watch", daemon=True).start()
        self.scheduler.resume()

    def _on_signal(self, signum: int, _frame: object) -> None:
        logger.info("received %s: stopping (running crawls are terminated)", signal.Signals(signum).name)
        self.stop()

    def stop(self) -> None:
        self.stopping.set()

    def _shutdown(self) -> None:
        """Let running crawls record their runs and a half-sent alert be marked, then release everything."""
        self.queue.stop()  # running crawls are asked to finish by their watchers (see alerts.crawls.watch)
        if self.scheduler.running:
            jobs.shutdown(self.scheduler)
        if not self._wait_idle(STOP_GRACE):
            self.kill_children.set()
            self._wait_idle(STOP_GRACE)
        jobs.bind(None)
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        if self.lock.still_held():
            mark_stopped(self.database)
        self.lock.release()
        self._release()
        logger.info("stopped")

    def _release(self) -> None:
        self.database.dispose()
        shutil.rmtree(self.snapshot_dir, ignore_errors=True)

    @contextmanager
    def _job(self) -> Iterator[None]:
        """Counts running jobs, so that stopping waits for them (and for nothing else)."""
        with self.busy_changed:
            self.busy += 1
        try:
            yield
        finally:
            with self.busy_changed:
                self.busy -= 1
                self.busy_changed.notify_all()

    def _wait_idle(self, timeout: float) -> bool:
        with self.busy_changed:
            return self.busy_changed.wait_for(lambda: self.busy <= 0, timeout=timeout)

    # ------------------------------------------------------------------ schedule

    def _last_started(self) -> dict[str, datetime]:
        with self.database.session() as session:
            rows = session.execute(select(CrawlRun.source_id, func.max(CrawlRun.started_at)).group_by(CrawlRun.source_id))
            return {source_id: started for source_id, started in rows}

    def _reload_trigger(self, config: Config) -> IntervalTrigger:
        return IntervalTrigger(seconds=config.settings.service.reload_interval.total_seconds())

    def _log_schedule(self, report: jobs.SyncReport) -> None:
        changes = {**{s: "new" for s in report.added}, **{s: "rescheduled" for s in report.rescheduled},
                   **{s: "resumed" for s in report.kept}}
        for source in self.config.sources:
            if not source.enabled:
                logger.info("source %-20s disabled", source.id)
                continue
            job = self.scheduler.get_job(jobs.job_id(source.id), jobstore=jobs.JOBSTORE)
            next_run = f"{job.next_run_time:%Y-%m-%d %H:%M:%S} UTC" if job and job.next_run_time else "-"
            logger.info("source %-20s %s; next run %s (%s)  %s", source.id, jobs.describe_schedule(source), next_run,
                        changes.get(source.id, "?"), source.start_urls[0])
        for source_id in report.removed:
            logger.info("source %s is no longer configured: its schedule was removed", source_id)
        settings = self.config.settings
        logger.info("alerts dispatched every %s; configuration re-read every %s; up to %d crawl processes",
                    settings.alerts.dispatch_interval, settings.service.reload_interval,
                    settings.service.crawl_processes)

    def _watch_clock(self) -> None:
        """Brings back next runs that a clock set back pushed into the future (see :mod:`alerts.jobs`)."""
        wall, mono = time.time(), time.monotonic()
        while not self.stopping.wait(5.0):
            now_wall, now_mono = time.time(), time.monotonic()
            drift = (now_wall - wall) - (now_mono - mono)
            wall, mono = now_wall, now_mono
            if abs(drift) < CLOCK_JUMP.total_seconds():
                continue
            logger.warning("the system clock jumped by %+.0f s", drift, extra={"event": "clock_jump"})
            if drift < 0 and self.scheduler.running:
                moved = jobs.pull_back_far_runs(self.scheduler, utcnow())
                if moved:
                    logger.warning("brought back the next run of %s", ", ".join(moved))

    # ------------------------------------------------------------------ crawls

    def _crawl_limits(self) -> tuple[int, int]:
        service = self.config.settings.service
        return service.crawl_processes, service.batch_size

    def crawl_source(self, source_id: str) -> None:
        """The job of one source: crawl it (maybe with others due now), record, judge its health."""
        with self._job():
            if self.stopping.is_set():
                return
            run = self.queue.crawl(source_id)
            if run is None:
                return
            self._report_run(run)
            change = check_source(self.database, self.config, source_id)
            if change is not None and change.event == "broken":
                logger.error("source %s is broken: %s", source_id, change.verdict.problem,
                             extra={"source": source_id, "event": "source_broken", "reason": change.verdict.reason})
            elif change is not None:
                logger.info("source %s works again", source_id, extra={"source": source_id, "event": "source_recovered"})
            if (run.articles_new or change is not None) and not self.stopping.is_set():
                self.scheduler.modify_job(DISPATCH_JOB, next_run_time=utcnow())

    def _run_batch(self, source_ids: list[str]) -> dict[str, CrawlRun]:
        config, snapshot = self.config, self.snapshot
        after, started = newest_run_id(self.database), utcnow()
        logger.info("crawling %s", ", ".join(source_ids), extra={"event": "crawl_started", "sources": source_ids})
        child = self.launcher.start(snapshot, source_ids, self.log_format)
        ended = watch(child, config.settings.crawl.crawl_timeout, config.settings.service.crawl_memory_limit,
                      self.stopping, self.kill_children)
        try:
            child.close()
        except ValueError:
            logger.error("crawl process %d of %s did not end after SIGKILL", child.pid, ", ".join(source_ids))
        if ended.problem():
            logger.error("crawl process of %s: %s", ", ".join(source_ids), ended.problem(),
                         extra={"event": "crawl_process_failed", "sources": source_ids})
        return settle_runs(self.database, source_ids, after, started, ended, self.stopping.is_set())

    def _report_run(self, run: CrawlRun) -> None:
        figures = {"source": run.source_id, "event": f"crawl_{run.status}", "pages": run.pages,
                   "article_links": run.article_links, "articles_new": run.articles_new, "run_id": run.id}
        if run.status == "ok":
            links = "listing unchanged" if run.article_links is None else f"{run.article_links} article links"
            logger.info("crawled %s: %d pages, %s, %d new articles", run.source_id, run.pages, links,
                        run.articles_new, extra=figures)
        elif run.status == "interrupted":
            logger.warning("crawl of %s interrupted: %s", run.source_id, run.message, extra=figures)
        else:
            logger.error("crawl of %s failed: %s", run.source_id, run.message, extra=figures)

    # ------------------------------------------------------------------ other jobs

    def dispatch(self) -> None:
        with self._job():
            report = self.dispatcher.run_once()
            if report.sent or report.retried or report.failed:
                logger.info("alerts: %d sent, %d to retry, %d failed, %d waiting",
                            report.sent, report.retried, report.failed, report.waiting)

    def housekeeping(self) -> None:
        with self._job():
            if not self.lock.still_held():
                logger.critical("lost the instance lock (%s): stopping so that no second scheduler runs beside "
                                "a standby that may have taken over", self.lock.description)
                self.exit_code = EXIT_LOCK_LOST
                self.stop()
                return
            beat(self.database, self.started_at)

    def reload(self) -> None:
        with self._job():
            fingerprint = config_fingerprint(self.config.directory)
            if fingerprint == self.fingerprint:
                return
            self.fingerprint = fingerprint
            config, issues = check_config(self.config.directory, linters=(lint_watchlist,))
            errors = [str(issue) for issue in issues if issue.level == "error"]
            if config is not None and config.database_url != self.config.database_url:
                config, errors = None, [f"{self.config.directory / 'settings.yaml'}: error: database: "
                                        "a different database needs a restart of the service"]
            if config is None:
                self._reject(fingerprint, errors)
                return
            self._apply(config, fingerprint)

    def _reject(self, fingerprint: str, errors: list[str]) -> None:
        logger.error("configuration change rejected; keeping the last valid configuration:\n%s", "\n".join(errors),
                     extra={"event": "config_rejected"})
        self.rejected = True
        body = "\n".join([
            f"An edit of the configuration in {self.config.directory} was rejected:",
            *errors,
            "Hlídka keeps running with the last valid configuration until the files are fixed.",
        ])
        with self.database.session() as session, session.begin():
            queue_notice(session, self.config, f"config:rejected:{fingerprint[:16]}", "configuration change rejected", body)

    def _apply(self, config: Config, fingerprint: str) -> None:
        for warning in config.warnings:
            logger.warning("%s", warning)
        old = self.config.settings
        self.snapshot = self._write_snapshot(config)  # before the config: whoever sees the new one gets both
        self.config = config
        self.dispatcher = Dispatcher(self.database, config, should_stop=lambda: self.stopping.is_set())
        self.log_format = format_from_environment() or config.settings.service.log_format
        use_format(self.log_format)
        report = jobs.sync_jobs(self.scheduler, config, self._last_started(), utcnow())
        if config.settings.service.reload_interval != old.service.reload_interval:
            self.scheduler.reschedule_job(RELOAD_JOB, trigger=self._reload_trigger(config))
        if config.settings.alerts.dispatch_interval != old.alerts.dispatch_interval:
            self.scheduler.reschedule_job(
                DISPATCH_JOB, trigger=IntervalTrigger(seconds=config.settings.alerts.dispatch_interval.total_seconds()))
        if config.settings.service.metrics != old.service.metrics:
            logger.warning("the metrics endpoint changes at the next restart of the service")
        logger.info("configuration reloaded: %d sources (%d new, %d rescheduled, %d removed), %d watchlists",
                    len(config.sources), len(report.added), len(report.rescheduled), len(report.removed),
                    len(config.watchlists), extra={"event": "config_reloaded"})
        if self.rejected:
            self.rejected = False
            with self.database.session() as session, session.begin():
                queue_notice(session, config, f"config:accepted:{fingerprint[:16]}", "configuration accepted again",
                             f"The configuration in {config.directory} is valid again and now in force.")

    # ------------------------------------------------------------------ metrics and snapshots

    def _start_metrics(self) -> None:
        metrics = self.config.settings.service.metrics
        if not metrics.enabled:
            return
        from hlidka.metrics import serve_metrics

        try:
            self.metrics_server, port = serve_metrics(self.database, lambda: self.config, metrics.host, metrics.port)
        except OSError as exc:
            logger.error("metrics endpoint not started on %s:%d: %s", metrics.host, metrics.port, exc)
            return
        logger.info("metrics at http://%s:%d/metrics", metrics.host, port)

    def _write_snapshot(self, config: Config) -> Path:
        """The crawl children get the validated config the service holds, not the files as they are now."""
        path = self.snapshot_dir / f"config-{utcnow().timestamp():.6f}.pickle"
        with path.open("wb") as handle:
            pickle.dump(config, handle)
        for old in sorted(self.snapshot_dir.glob("config-*.pickle"))[:-2]:
            old.unlink()  # keep the previous one: a child that just started may still be reading it
        return path


def run_service(config_dir: Path, standby: bool = False) -> int:
    try:
        config, issues = check_config(config_dir, linters=(lint_watchlist,))
        if config is None:
            raise ConfigError(issues)
    except ConfigError as exc:
        logger.error("cannot start: the configuration has errors:\n%s", exc)
        return 2
    use_format(format_from_environment() or config.settings.service.log_format)
    for warning in config.warnings:
        logger.warning("%s", warning)
    try:
        return Service(config, standby=standby).run()
    except AlreadyRunning as exc:
        logger.error("%s", exc)
        return 3
