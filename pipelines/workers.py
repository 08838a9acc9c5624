"""The process pool that runs extraction beside the crawl.

Extraction costs ~15–50 ms of CPU per article against ~1–4 ms to fetch it;
done in the reactor thread it would stall every download. A pool of worker
processes puts the other cores to work while the reactor keeps fetching. One
pool per crawl process, shared by the crawlers of all sources in it.

Start-up matters as much: a crawl process lives for one run, and a worker
spawned as a fresh interpreter spends ~1.5 CPU-seconds importing trafilatura,
lxml and the rest before its first page — per worker, per run. A worker
forked from the crawl process has all of it already. Forking is only safe
while the process runs a single thread (a lock another thread holds would stay
locked forever in the child), so :func:`crawler.run.run_crawl` creates the
pool before the reactor starts; a pool first asked for later is spawned.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def _warm_up() -> None:
    """Import the heavy modules once per worker, not on its first article (a no-op in a forked one)."""
    import pipelines.pagetext  # noqa: F401


def default_workers() -> int:
    """One per CPU this process may run on: a cgroup or ``taskset`` can allow fewer than the machine has."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return max(1, os.cpu_count() or 1)


def extraction_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """The process's pool, created on first use: forked when that is safe, else spawned."""
    global _pool
    with _lock:
        if _pool is None:
            fork = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
            _pool = ProcessPoolExecutor(
                max_workers=workers or default_workers(),
                mp_context=multiprocessing.get_context("fork" if fork else "spawn"),
                initializer=_warm_up,
            )
            if fork:
                # The first task forks every worker at once (the pool starts its threads after that).
                _pool.submit(_warm_up).result()
        return _pool


def shutdown_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None
