"""The process pool that runs extraction beside the crawl.

Extraction costs ~50 ms of CPU per article against ~4 ms to fetch it; done in
the reactor thread it would stall every download. A pool of worker processes
puts the other cores to work while the reactor keeps fetching. One pool per
crawl process, shared by the crawlers of all sources in it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def _warm_up() -> None:
    """Import the heavy modules once per worker, not on its first article."""
    import pipelines.extraction  # noqa: F401


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def extraction_pool(workers: int | None = None) -> ProcessPoolExecutor:
    # "spawn": forking a process that runs a reactor and threads can deadlock a child.
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=workers or default_workers(),
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_up,
            )
        return _pool


def shutdown_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None
