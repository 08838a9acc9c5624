"""The process pool that runs extraction beside the crawl.

Extraction costs ~12–50 ms of CPU per article against ~1–3 ms to fetch it;
done in the reactor thread it would stall every download. A pool of worker
processes puts the other cores to work while the reactor keeps fetching. One
pool per crawl process, shared by the crawlers of all sources in it.

The pool is driven by the reactor's own asyncio loop rather than by
``concurrent.futures.ProcessPoolExecutor``: that one hands every task and
result through two helper threads (a manager and a queue feeder), and each
hand-off is a thread wake-up and a GIL switch inside the crawl process —
~200 µs of its CPU per page, where this pool needs ~85 µs
(``bench/pool.py``). Here a task is pickled in the reactor thread and written
to its worker's pipe by asyncio's non-blocking pipe transport; the result comes
back through a pipe protocol on the same loop.

Each worker holds at most :data:`DEPTH` tasks (one running, the next ones
already in its pipe, so it never waits for a busy reactor), the rest wait
here: a slow page (a long PDF) delays only the few queued behind it, and the
other workers take the rest. A worker that dies (a
crash in a parser, the OOM killer) fails the page it was working on with
:class:`WorkerDied`, gives its queued pages back and is replaced; the crawl goes
on. Workers that keep dying with no answer in between are not restarted forever.

Start-up matters as much: a crawl process lives for one run, and a worker
spawned as a fresh interpreter spends ~1.5 CPU-seconds importing trafilatura,
lxml and the rest before its first page — per worker, per run. A worker
forked from the crawl process has all of it already. Forking is only safe
while the process runs a single thread (a lock another thread holds would stay
locked forever in the child), so :func:`crawler.run.run_crawl` creates the
pool before the reactor starts; workers started later (a pool first asked for
once threads exist, a replacement) are spawned.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import multiprocessing
import os
import pickle
import signal
import struct
import threading
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Tasks a worker holds at once: the one it runs and the next ones, already in its pipe.
DEPTH = 4
#: What a worker's task pipe may hold: DEPTH pages of up to ~250 KB.
PIPE_BYTES = 1 << 20
_HEADER = struct.Struct("<Q")

_pool: ExtractionPool | None = None
_lock = threading.Lock()


class WorkerDied(RuntimeError):
    """The worker running a task exited before it answered."""


def default_workers() -> int:
    """One per CPU this process may run on: a cgroup or ``taskset`` can allow fewer than the machine has."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return max(1, os.cpu_count() or 1)


def extraction_pool(workers: int | None = None) -> ExtractionPool:
    """The process's pool, created on first use: its workers forked when that is safe, else spawned."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ExtractionPool(workers or default_workers())
        return _pool


def shutdown_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.close()
            _pool = None


# --------------------------------------------------------------------------- the worker side


def _read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``; None at the end of the pipe."""
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _outcome(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The pickled ``(True, result)`` or ``(False, exception, traceback text)`` of one call."""
    try:
        return pickle.dumps((True, fn(*args, **kwargs)), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - whatever a task raises goes back to the crawl process
        trace = traceback.format_exc()
        try:
            return pickle.dumps((False, exc, trace), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - an exception that does not pickle still reports its text
            return pickle.dumps((False, RuntimeError(repr(exc)), trace), protocol=pickle.HIGHEST_PROTOCOL)


def _serve(tasks: Connection, results: Connection) -> None:
    """A worker's life: read a task, run it, write its outcome, until the crawl process closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the crawl's to handle; the pipe's end stops us
    import pipelines.pagetext  # noqa: F401 - a spawned worker imports it before its first page, not on it

    reader, writer = tasks.fileno(), results.fileno()
    while (header := _read_exactly(reader, _HEADER.size)) is not None:
        payload = _read_exactly(reader, _HEADER.unpack(header)[0])
        if payload is None:
            return
        fn, args, kwargs = pickle.loads(payload)
        data = _outcome(fn, args, kwargs)
        _write_all(writer, _HEADER.pack(len(data)) + data)


# --------------------------------------------------------------------------- the crawl side


def _widen(pipe: int) -> None:
    """Let a pipe hold :data:`DEPTH` pages, so a worker never waits for the loop to write the rest of one.

    A Linux pipe holds 64 KB, less than one article page: the remainder would
    reach the worker only when the reactor next runs, and a reactor busy
    storing a batch would leave the worker idle with half a page in hand.
    """
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        try:
            fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:  # above /proc/sys/fs/pipe-max-size: keep the default
            pass


class _Results(asyncio.Protocol):
    """Reassembles a worker's length-prefixed answers from its pipe."""

    def __init__(self, worker: _Worker):
        self.worker = worker
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= _HEADER.size:
            end = _HEADER.size + _HEADER.unpack_from(self.buffer)[0]
            if len(self.buffer) < end:
                return
            answer = pickle.loads(self.buffer[_HEADER.size:end])
            del self.buffer[:end]
            self.worker.answered(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.lost()


class _Worker:
    def __init__(self, pool: ExtractionPool, context: BaseContext):
        self.pool = pool
        task_reader, task_writer = context.Pipe(duplex=False)
        result_reader, result_writer = context.Pipe(duplex=False)
        self.process = context.Process(target=_serve, args=(task_reader, result_writer), daemon=True,
                                       name="hlidka-extraction")
        self.process.start()
        task_reader.close()
        result_writer.close()
        self._task_fd, self._result_fd = os.dup(task_writer.fileno()), os.dup(result_reader.fileno())
        _widen(self._task_fd)
        task_writer.close()
        result_reader.close()
        self.in_flight: deque[tuple[asyncio.Future[Any], bytes]] = deque()
        self.transport: asyncio.WriteTransport | None = None
        self.results: asyncio.ReadTransport | None = None
        self.alive = True

    async def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, open(self._task_fd, "wb", buffering=0))
        self.results, _ = await loop.connect_read_pipe(lambda: _Results(self), open(self._result_fd, "rb", buffering=0))

    def send(self, task: tuple[asyncio.Future[Any], bytes]) -> None:
        assert self.transport is not None
        self.in_flight.append(task)
        self.transport.writelines((_HEADER.pack(len(task[1])), task[1]))

    def answered(self, answer: tuple[Any, ...]) -> None:
        future, _ = self.in_flight.popleft()
        if not future.cancelled():
            if answer[0]:
                future.set_result(answer[1])
            else:
                exc: BaseException = answer[1]
                exc.add_note(f"in extraction worker {self.process.pid}:\n{answer[2]}")
                future.set_exception(exc)
        self.pool.worker_answered()

    def lost(self) -> None:
        if not self.alive:
            return
        self.alive = False
        if self.transport is not None:
            self.transport.close()
        self.pool.replace(self)

    def stop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Close the pipes (a worker reading its next task sees their end) and terminate the process."""
        self.alive = False
        pipes: tuple[tuple[asyncio.BaseTransport | None, int], ...] = (
            (self.transport, self._task_fd), (self.results, self._result_fd))
        for transport, fd in pipes:
            if transport is None:
                os.close(fd)
            elif loop is not None and not loop.is_closed():
                transport.close()
            else:  # the transport's loop is gone: nothing else will touch its pipe
                transport.get_extra_info("pipe").close()
        if self.process.is_alive():
            self.process.terminate()


class ExtractionPool:
    """Worker processes fed from the running event loop: ``await pool.run(fn, *args)``."""

    def __init__(self, workers: int):
        fork = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
        self.workers = [_Worker(self, self._context(fork)) for _ in range(workers)]
        self._pending: deque[tuple[asyncio.Future[Any], bytes]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._attached: asyncio.Future[None] | None = None
        #: Workers that died since one last answered: a replacement that cannot even start
        #: (a broken install) must not be restarted forever.
        self._deaths = 0
        self._closed = False

    @staticmethod
    def _context(fork: bool) -> BaseContext:
        return multiprocessing.get_context("fork" if fork else "spawn")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker; ``fn`` and its arguments must pickle."""
        loop = asyncio.get_running_loop()
        if self._closed:
            raise RuntimeError("this extraction pool is closed")
        if not self.workers:
            raise WorkerDied("no extraction worker is left: they kept dying (see the log)")
        if self._attached is None:
            self._loop = loop
            self._attached = asyncio.ensure_future(self._attach(self.workers))
        elif loop is not self._loop:
            raise RuntimeError("this extraction pool is driven by another event loop")
        await asyncio.shield(self._attached)
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((future, pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)))
        self.dispatch()
        return await future

    async def _attach(self, workers: list[_Worker]) -> None:
        assert self._loop is not None
        for worker in workers:
            await worker.attach(self._loop)

    def dispatch(self) -> None:
        """Hand waiting tasks to the least busy workers that have room."""
        while self._pending:
            ready = [w for w in self.workers if w.alive and w.transport is not None and len(w.in_flight) < DEPTH]
            if not ready:
                return
            task = self._pending.popleft()
            if not task[0].cancelled():
                min(ready, key=lambda w: len(w.in_flight)).send(task)

    def worker_answered(self) -> None:
        """A worker has room again, and the workers are not all dying."""
        self._deaths = 0
        self.dispatch()

    def replace(self, dead: _Worker) -> None:
        """Fail the task a dead worker was running, requeue the rest, start a spawned replacement."""
        dead.process.join(timeout=1)
        died = f"extraction worker {dead.process.pid} exited (exit code {dead.process.exitcode})"
        if dead.in_flight:
            future, _ = dead.in_flight.popleft()
            if not future.cancelled():
                future.set_exception(WorkerDied(f"{died} while running this task"))
            self._pending.extendleft(reversed(dead.in_flight))
            dead.in_flight.clear()
        if self._closed:
            return
        self._deaths += 1
        if self._deaths > 2 * len(self.workers):
            self.workers.remove(dead)
            logger.error("%s; %d workers died without an answer in between: not starting another, %d left",
                         died, self._deaths, len(self.workers))
            if not self.workers:
                for future, _ in self._pending:
                    if not future.cancelled():
                        future.set_exception(WorkerDied(f"{died}, and every extraction worker before it"))
                self._pending.clear()
            return
        logger.warning("%s; starting another", died)
        replacement = _Worker(self, self._context(fork=False))
        self.workers[self.workers.index(dead)] = replacement
        attached = asyncio.ensure_future(self._attach([replacement]))
        attached.add_done_callback(lambda _: self.dispatch())

    def close(self) -> None:
        """Stop every worker; tasks still waiting are abandoned (the crawl that wanted them is over)."""
        self._closed = True
        workers, self.workers = self.workers, []
        for worker in workers:
            worker.stop(self._loop)
        for worker in workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        for future, _ in self._pending:
            future.cancel()
        self._pending.clear()
