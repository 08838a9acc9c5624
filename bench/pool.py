"""What handing pages to extraction workers costs the crawl process: our pool against ProcessPoolExecutor.

    .venv/bin/python bench/pool.py [--tasks 5000] [--workers 2]

The crawl process fetches, dedupes, matches and stores on one thread while the
workers extract, so every microsecond it spends passing a page to a worker and
taking the answer back is taken from the crawl. Both pools get the same tasks
from one asyncio loop (16 in flight, as Scrapy's pipelines keep them): the bytes
of a ~92 KB Czech page in (as the crawl sends them), a ~6 KB answer out, the
task itself instant, so the figures are the hand-off alone. Printed: the crawl
process's CPU per task (all its threads) and tasks per second.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.workers import ExtractionPool  # noqa: E402

PAGE = ("<p>Ministr obrany jednal v Soulu o spolupráci s Korejskou republikou. " * 1400)[:92_000].encode("utf-8")
ANSWER = ("Obě strany se dohodly na pokračování konzultací. " * 110, list(range(42)), b"\x00" * 512)


def task(page: bytes) -> tuple[str, list[int], bytes]:
    return ANSWER


async def drive(submit: Callable[[bytes], Awaitable[object]], tasks: int) -> tuple[float, float]:
    """CPU seconds of this process per task, and tasks per second."""
    in_flight = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        async with in_flight:
            await submit(PAGE + str(i).encode())  # a new object each time: nothing is cached between tasks

    await submit(b"")  # the pools start their workers and threads first
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(tasks)))
    return (time.process_time() - cpu) / tasks, tasks / (time.perf_counter() - wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    executor = ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("fork"))
    baseline = asyncio.run(drive(lambda page: asyncio.wrap_future(executor.submit(task, page)), args.tasks))
    executor.shutdown()
    pool = ExtractionPool(args.workers)

    async def ours() -> tuple[float, float]:
        return await drive(lambda page: pool.run(task, page), args.tasks)

    result = asyncio.run(ours())
    pool.close()
    for name, (cpu, rate) in (("ProcessPoolExecutor (baseline)", baseline), ("pipelines.workers pool", result)):
        print(f"{name}: {cpu * 1e6:.0f} µs of crawl-process CPU per task, {rate:.0f} tasks/s")
    print(f"our pool: {result[0] / baseline[0]:.2f}× the baseline's CPU per task")
    return 0


if __name__ == "__main__":
    sys.exit(main())
