"""Crawls in child processes: started, watched, killed when they overrun, and always recorded.

Isolation. Every crawl runs in a child process in its own session (process
group), so that a crash, a hang or a leak in Scrapy, trafilatura or a site's
odd page costs that run and nothing else: the service kills the whole group
when it runs past ``crawl_timeout`` or its private memory grows past
``service.crawl_memory_limit``, and records the run as failed with the reason.
A run the child never got to record is recorded by the service, so no run is
ever missing from ``crawl_runs`` or left ``running``.

Cost. A child that imports Scrapy, trafilatura and the matcher and loads the
lemma dictionaries spends ~6 CPU-seconds before its first request; forking
children from a template process that has done all that once (multiprocessing's
fork server preloading :mod:`alerts.crawl_warmup`) brings it to ~1 CPU-second.
When every crawl slot is busy, sources that fall due meanwhile are crawled
together in the next child (up to ``service.batch_size``): under load a few
children serve many sources; when idle, a due source starts at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import func, select

from hlidka.db import CrawlRun, Database, utcnow
from hlidka.logs import TEXT_FORMAT, keep_level, use_format

logger = logging.getLogger("hlidka.service")

#: How often a running child is checked for its time and memory limits.
WATCH_INTERVAL = 1.0


# --------------------------------------------------------------------------- the child side


def crawl_child(snapshot: str, source_ids: list[str], log_format: str) -> None:
    """Entry point of a forked crawl child: crawl the sources with the service's validated config."""
    os.setsid()  # its own process group: the service can kill the crawl together with its extraction workers
    with open(snapshot, "rb") as handle:
        config = pickle.load(handle)
    logging.basicConfig(level=logging.DEBUG, format=TEXT_FORMAT, stream=sys.stderr, force=True)
    use_format(log_format)
    keep_level(config.settings.log_level)
    from crawler.run import run_crawl

    summaries = run_crawl(config, source_ids)
    sys.exit(0 if summaries and all(s.status == "ok" for s in summaries) else 1)


# --------------------------------------------------------------------------- launching


class Child(Protocol):
    pid: int

    def wait(self, timeout: float) -> int | None:
        """Exit code (negative: killed by that signal) once ended, else None after ``timeout``."""

    def close(self) -> None:
        """Release what the handle holds once the child has ended."""


class Launcher(Protocol):
    def start(self, snapshot: Path, source_ids: Sequence[str], log_format: str) -> Child: ...


class _ForkedChild:
    def __init__(self, process: multiprocessing.process.BaseProcess):
        self.process = process
        assert process.pid is not None
        self.pid = process.pid

    def wait(self, timeout: float) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode

    def close(self) -> None:
        self.process.close()


class ForkLauncher:
    """Children forked from a template process that imported and warmed everything once."""

    def __init__(self, preload: Sequence[str] = ("alerts.crawl_warmup",)):
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(list(preload))

    def start(self, snapshot: Path, source_ids: Sequence[str], log_format: str) -> Child:
        process = self.context.Process(target=crawl_child, args=(str(snapshot), list(source_ids), log_format),
                                       name="hlidka-crawl")
        process.start()
        return _ForkedChild(process)


class _CommandChild:
    def __init__(self, popen: subprocess.Popen[bytes]):
        self.popen = popen
        self.pid = popen.pid

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        """Popen keeps nothing open here: the child inherits the service's stdout and stderr."""


CrawlCommand = Callable[[Path, Sequence[str]], list[str]]


class CommandLauncher:
    """Children started as a command line, e.g. ``python -m hlidka crawl --snapshot … --source …``."""

    def __init__(self, command: CrawlCommand):
        self.command = command

    def start(self, snapshot: Path, source_ids: Sequence[str], log_format: str) -> Child:
        env = {**os.environ, "HLIDKA_LOG_FORMAT": log_format}
        return _CommandChild(subprocess.Popen(self.command(snapshot, source_ids), start_new_session=True, env=env))


def hlidka_crawl_command(snapshot: Path, source_ids: Sequence[str]) -> list[str]:
    sources = [arg for source_id in source_ids for arg in ("--source", source_id)]
    return [sys.executable, "-m", "hlidka", "crawl", "--snapshot", str(snapshot), *sources, "--no-send"]


# --------------------------------------------------------------------------- watching


def _signal_group(pid: int, signum: int) -> None:
    """The child's whole process group; just the child if it has not made its group yet."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def terminate(child: Child) -> None:
    """Ask the crawl to stop: Scrapy closes its spiders (recording their runs) on SIGTERM."""
    try:
        os.kill(child.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    queue.extend(int(p) for p in handle.read().split())
            except OSError:
                continue
    return found


def private_memory(pid: int) -> int:
    """Bytes of memory the child and its workers own (not the pages shared with the template process)."""
    total = 0
    for process in _descendants(pid):
        try:
            with open(f"/proc/{process}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith(("Private_Clean:", "Private_Dirty:")):
                        total += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            continue
    return total


def _size(count: int) -> str:
    return f"{count / 1024**3:.1f} GiB" if count >= 1024**3 else f"{count / 1024**2:.0f} MiB"


@dataclass(frozen=True)
class ChildExit:
    #: Exit code; negative when a signal ended the child.
    code: int | None
    #: Why the service killed it, if it did.
    killed: str | None = None

    def problem(self) -> str | None:
        """What went wrong with the process itself; None for a crawl that ended on its own (0 or 1)."""
        if self.killed:
            return f"killed: {self.killed}"
        if self.code is not None and self.code < 0:
            try:
                name = signal.Signals(-self.code).name
            except ValueError:
                name = f"signal {-self.code}"
            return f"the crawl process died of {name}"
        if self.code not in (0, 1):
            return f"the crawl process exited with code {self.code}"
        return None


def watch(child: Child, timeout: timedelta, memory_limit: int, stopping: threading.Event,
          give_up: threading.Event) -> ChildExit:
    """Wait for the child; kill its group at ``timeout``, over ``memory_limit``, or once ``give_up`` is set.

    Once ``stopping`` is set the child is asked to finish (SIGTERM), which Scrapy
    answers by closing its spiders and recording their runs.
    """
    deadline = time.monotonic() + timeout.total_seconds()
    asked_to_stop = False
    while True:
        code = child.wait(WATCH_INTERVAL)
        if code is not None:
            return ChildExit(code)
        if stopping.is_set() and not asked_to_stop:
            terminate(child)
            asked_to_stop = True
        reason = None
        if give_up.is_set():
            reason = "the service stopped before the crawl ended"
        elif time.monotonic() > deadline:
            reason = f"the crawl ran past its limit (crawl_timeout {int(timeout.total_seconds())}s)"
        else:
            used = private_memory(child.pid)
            if used > memory_limit:
                reason = f"the crawl used {_size(used)} of private memory, over crawl_memory_limit ({_size(memory_limit)})"
        if reason:
            _signal_group(child.pid, signal.SIGKILL)
            return ChildExit(child.wait(30.0), killed=reason)


# --------------------------------------------------------------------------- recording


def newest_run_id(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.max(CrawlRun.id))) or 0


def settle_runs(database: Database, source_ids: Sequence[str], after_id: int, started: datetime,
                ended: ChildExit, stopping: bool) -> dict[str, CrawlRun]:
    """Close the batch's runs the child left open and add the ones it never wrote; the last run of each source."""
    problem = ended.problem()
    now = utcnow()
    unfinished = "interrupted" if stopping else "failed"
    latest: dict[str, CrawlRun] = {}
    with database.session() as session, session.begin():
        for source_id in source_ids:
            runs = list(session.scalars(
                select(CrawlRun).where(CrawlRun.source_id == source_id, CrawlRun.id > after_id).order_by(CrawlRun.id)))
            if not runs:
                reason = problem or f"the crawl process ended (exit code {ended.code}) without recording a run"
                run = CrawlRun(source_id=source_id, started_at=started, finished_at=now, status=unfinished, message=reason)
                session.add(run)
                runs = [run]
            for run in runs:
                if run.status == "running" or (stopping and run.status != "ok"):
                    run.status, run.finished_at = unfinished, now
                    run.message = problem or run.message or "the crawl process ended before the run finished"
            session.flush()
            latest[source_id] = runs[-1]
    return latest


def interrupt_stale_runs(database: Database, older_than: datetime) -> int:
    """Runs left ``running`` by a service that was killed: nobody will finish them."""
    with database.session() as session, session.begin():
        stale = list(session.scalars(select(CrawlRun).where(CrawlRun.status == "running", CrawlRun.started_at < older_than)))
        for run in stale:
            run.status, run.finished_at = "interrupted", utcnow()
            run.message = "the service stopped during this run"
    return len(stale)


# --------------------------------------------------------------------------- batching


class CrawlQueue:
    """Runs due sources in a bounded number of children, several sources to a child when slots are busy.

    Each scheduler job calls :meth:`crawl` for its source and blocks until the
    source's run is recorded, so APScheduler's one-instance-per-job rule is also
    "one run per source at a time". A job whose source is still waiting when a
    slot frees takes the slot and crawls every waiting source (up to the batch
    size) in one child; the other jobs just collect their results.
    """

    def __init__(self, run_batch: Callable[[list[str]], dict[str, CrawlRun]], limits: Callable[[], tuple[int, int]]):
        self._run_batch = run_batch
        self._limits = limits  # (processes, batch size), read each time: a config reload may change them
        self._waiting: dict[str, Future[CrawlRun | None]] = {}
        self._running = 0
        self._changed = threading.Condition()
        self._stopping = False

    def crawl(self, source_id: str) -> CrawlRun | None:
        """The source's recorded run, or None when the service stopped before it ran."""
        ticket: Future[CrawlRun | None] = Future()
        with self._changed:
            if self._stopping:
                return None
            self._waiting[source_id] = ticket
            self._changed.notify_all()
        while not ticket.done():
            batch = self._claim(source_id)
            if batch:
                self._run(batch)
        return ticket.result()

    def _claim(self, source_id: str) -> dict[str, Future[CrawlRun | None]]:
        with self._changed:
            if self._stopping:
                for ticket in self._waiting.values():
                    ticket.set_result(None)
                self._waiting.clear()
                return {}
            processes, batch_size = self._limits()
            if source_id not in self._waiting or self._running >= processes:
                self._changed.wait(timeout=WATCH_INTERVAL)
                return {}
            self._running += 1
            chosen = [source_id, *[s for s in self._waiting if s != source_id]][:batch_size]
            return {s: self._waiting.pop(s) for s in chosen}

    def _run(self, batch: dict[str, Future[CrawlRun | None]]) -> None:
        results: dict[str, CrawlRun] = {}
        try:
            results = self._run_batch(list(batch))
        except Exception:  # a bug here must not leave the other sources' jobs waiting forever
            logger.exception("crawl of %s could not be run", ", ".join(batch))
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()
            for source_id, ticket in batch.items():
                ticket.set_result(results.get(source_id))

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    @property
    def busy(self) -> int:
        with self._changed:
            return self._running
