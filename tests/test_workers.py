"""The extraction pool: one worker per CPU the process may use (or what settings.yaml says), fed from
the event loop; a task's exception comes back with its traceback, a worker that dies costs one task."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import Config
from config.schema import CrawlSettings, Settings
from crawler.run import crawl_settings
from pipelines import workers


@pytest.fixture
def fresh_pool() -> Iterator[None]:
    workers.shutdown_pool()
    yield
    workers.shutdown_pool()


def _pid(_task: int) -> int:
    time.sleep(0.05)  # long enough that every worker gets some of the tasks
    return os.getpid()


def _echo(value: object, *, suffix: str = "") -> str:
    return f"{value}{suffix}"


def _fail(message: str) -> None:
    raise ValueError(message)


def _die(_task: int) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def run_all(pool: workers.ExtractionPool, calls: list[tuple]) -> list[object]:
    """The calls' results (or exceptions) in order, all submitted at once."""
    async def main() -> list[object]:
        return await asyncio.gather(*(pool.run(fn, *args) for fn, *args in calls), return_exceptions=True)
    return asyncio.run(main())


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux-only")
def test_default_is_one_worker_per_cpu_the_process_may_use(fresh_pool: None) -> None:
    allowed = os.sched_getaffinity(0)
    assert workers.default_workers() == len(allowed)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        assert workers.default_workers() == 1, "taskset/cgroup limits are respected"
    finally:
        os.sched_setaffinity(0, allowed)


def test_a_pool_has_the_workers_it_was_asked_for(fresh_pool: None) -> None:
    pool = workers.extraction_pool(3)
    pids = run_all(pool, [(_pid, i) for i in range(24)])
    assert len(set(pids)) == 3 and os.getpid() not in pids
    assert workers.extraction_pool(1) is pool, "later calls share the first pool"


def test_results_and_exceptions_come_back_to_their_callers(fresh_pool: None) -> None:
    pool = workers.extraction_pool(2)

    async def main() -> tuple[list[str], str, BaseException]:
        texts = await asyncio.gather(*(pool.run(_echo, "Příliš žluťoučký " * 10_000 + str(i)) for i in range(40)))
        (error,) = await asyncio.gather(pool.run(_fail, "no article"), return_exceptions=True)
        return texts, await pool.run(_echo, "Korea", suffix="!"), error

    texts, keyword, error = asyncio.run(main())
    assert [t.rsplit(" ", 1)[1] for t in texts] == [str(i) for i in range(40)], "each answer reaches its own caller"
    assert keyword == "Korea!", "keyword arguments too"
    assert isinstance(error, ValueError) and str(error) == "no article"
    assert "in _fail" in error.__notes__[0], "with the worker's traceback"


def test_a_dead_worker_fails_only_its_task_and_is_replaced(fresh_pool: None) -> None:
    pool = workers.extraction_pool(2)
    before = {w.process.pid for w in pool.workers}
    results = run_all(pool, [(_die, 0), *((_pid, i) for i in range(10))])
    assert isinstance(results[0], workers.WorkerDied)
    assert all(isinstance(r, int) for r in results[1:]), "the tasks queued behind it ran elsewhere"
    after = {w.process.pid for w in pool.workers}
    assert len(after) == 2 and after != before and all(w.process.is_alive() for w in pool.workers)


def test_workers_that_keep_dying_are_not_restarted_forever(fresh_pool: None) -> None:
    pool = workers.extraction_pool(1)
    results = run_all(pool, [(_die, i) for i in range(5)])
    assert all(isinstance(r, workers.WorkerDied) for r in results)
    assert not pool.workers, "given up after a few deaths with no answer between them"
    (refused,) = run_all(pool, [(_pid, 0)])
    assert isinstance(refused, workers.WorkerDied) and "kept dying" in str(refused)


def test_a_slow_task_holds_up_only_those_queued_behind_it(fresh_pool: None) -> None:
    pool = workers.extraction_pool(2)
    done: list[str] = []

    async def task(name: str, seconds: float) -> None:
        await pool.run(_sleep, seconds)
        done.append(name)

    async def main() -> None:
        slow = asyncio.ensure_future(task("slow", 3.0))
        await asyncio.sleep(0.3)  # the slow one is running
        await asyncio.gather(slow, *(task("quick", 0.01) for _ in range(10)))

    asyncio.run(main())
    before_slow = done.index("slow")
    held = workers.DEPTH - 1  # at most this many wait in the slow worker's pipe
    assert before_slow >= 10 - held, f"the other quick tasks ran on the other worker meanwhile: {done}"


def test_closing_the_pool_stops_its_workers(fresh_pool: None) -> None:
    pool = workers.extraction_pool(2)
    run_all(pool, [(_pid, 0)])
    processes = [w.process for w in pool.workers]
    workers.shutdown_pool()
    assert not any(p.is_alive() for p in processes)
    assert workers.extraction_pool(2) is not pool, "a new pool after shutdown"


def test_settings_yaml_sizes_the_pool(tmp_path: Path) -> None:
    crawl = CrawlSettings.model_validate({"extraction_workers": 3})
    settings = crawl_settings(Config(directory=tmp_path, settings=Settings(crawl=crawl), sources=(), watchlists=()))
    assert settings.getint("HLIDKA_EXTRACT_WORKERS") == 3
    defaults = crawl_settings(Config(directory=tmp_path, settings=Settings(), sources=(), watchlists=()))
    assert defaults.getint("HLIDKA_EXTRACT_WORKERS") == 0, "0 = one per CPU"
