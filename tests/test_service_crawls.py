"""Crawl isolation: a crawl that crashes, hangs or leaks is a failed run, never a dead service; batching."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from sqlalchemy import func, select

from alerts.crawls import ChildExit, CrawlQueue, interrupt_stale_runs, newest_run_id, settle_runs
from hlidka.db import CrawlRun, Database, utcnow
from hlidka.fixtureweb import FixtureWeb
from hlidka.mailsink import MailSink
from support.running_service import (
    database_of,
    finished_runs,
    operations_alerts,
    running_service,
    wait_until,
    write_service_config,
)


@pytest.fixture
def tarpit() -> Iterator[str]:
    """A server that accepts connections and never answers: a site (or a crawl) that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/news/"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def crash(_snapshot: Path, _sources: Sequence[str]) -> list[str]:
    return [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]


def leak(_snapshot: Path, _sources: Sequence[str]) -> list[str]:
    return [sys.executable, "-c", "import time; hoard = bytearray(300 * 1024 * 1024); time.sleep(120)"]


def test_a_crashing_crawl_is_recorded_failed_and_three_in_a_row_raise_one_operations_alert(tmp_path: Path) -> None:
    with FixtureWeb() as web, MailSink() as mail:
        directory = write_service_config(tmp_path / "config", web, smtp=mail, sources=["mocr"], interval="1s")
        with database_of(directory) as database, running_service(directory, crawl_command=crash):
            wait_until(lambda: len(finished_runs(database, "mocr")) >= 4, what="four crashed runs")
            broken = wait_until(lambda: operations_alerts(database), what="the operations alert")
            runs = finished_runs(database, "mocr")
    assert {(r.status, r.message) for r in runs} == {("failed", "the crawl process died of SIGSEGV")}
    assert all(r.finished_at is not None for r in runs)
    assert [a.subject for a in broken] == ["source mocr is broken"]
    assert "its last 3 runs failed" in (broken[0].body or "")


def test_a_hanging_crawl_is_killed_at_its_limit_while_other_sources_go_on(tmp_path: Path, tarpit: str) -> None:
    with FixtureWeb() as web:
        directory = write_service_config(
            tmp_path / "config", web, sources=["mocr"], interval="2s",
            service={"crawl_processes": 2, "batch_size": 1})
        sources_path = directory / "sources.yaml"
        sources_path.write_text(sources_path.read_text(encoding="utf-8") + (
            f"- id: stuck\n  kind: html\n  interval: 2s\n  jitter: 0s\n  start_urls: ['{tarpit}']\n"), encoding="utf-8")
        settings_path = directory / "settings.yaml"
        settings_path.write_text(settings_path.read_text(encoding="utf-8").replace(
            "download_timeout: 10s", "download_timeout: 120s\n  crawl_timeout: 15s"), encoding="utf-8")
        with database_of(directory) as database, running_service(directory):
            wait_until(lambda: finished_runs(database, "stuck"), what="the hanging run to be killed")
            wait_until(lambda: len(finished_runs(database, "mocr")) >= 3, what="the other source crawling on")
            stuck, healthy = finished_runs(database, "stuck"), finished_runs(database, "mocr")
    assert {(r.status, r.message) for r in stuck} == {
        ("failed", "killed: the crawl ran past its limit (crawl_timeout 15s)")}
    assert all((r.finished_at - r.started_at).total_seconds() < 30 for r in stuck if r.finished_at)
    assert all(r.status == "ok" for r in healthy)


def test_a_crawl_over_its_memory_limit_is_killed(tmp_path: Path) -> None:
    with FixtureWeb() as web:
        directory = write_service_config(tmp_path / "config", web, sources=["mocr"], interval="60s",
                                         service={"crawl_memory_limit": "100MiB"})
        with database_of(directory) as database, running_service(directory, crawl_command=leak):
            run = wait_until(lambda: finished_runs(database, "mocr"), what="the leaking run")[0]
    assert run.status == "failed"
    assert run.message is not None and run.message.startswith("killed: the crawl used ")
    assert "over crawl_memory_limit (100 MiB)" in run.message


def test_sources_due_while_every_slot_is_busy_share_the_next_crawl_process() -> None:
    batches: list[list[str]] = []
    first_started, release_first = threading.Event(), threading.Event()

    def run_batch(source_ids: list[str]) -> dict[str, CrawlRun]:
        batches.append(source_ids)
        if len(batches) == 1:
            first_started.set()
            release_first.wait(10)
        return {s: CrawlRun(source_id=s, status="ok") for s in source_ids}

    queue = CrawlQueue(run_batch, lambda: (1, 2))
    results: dict[str, CrawlRun | None] = {}

    def crawl(source_id: str) -> None:
        results[source_id] = queue.crawl(source_id)

    threads = [threading.Thread(target=crawl, args=("a",))]
    threads[0].start()
    assert first_started.wait(10)
    for source_id in ("b", "c", "d"):
        threads.append(threading.Thread(target=crawl, args=(source_id,)))
        threads[-1].start()
    wait_until(lambda: len(queue._waiting) == 3, timeout=10, what="three sources waiting")
    release_first.set()
    for thread in threads:
        thread.join(10)
    assert batches[0] == ["a"]
    assert sorted(len(b) for b in batches[1:]) == [1, 2], "three waiting sources, batch size 2: two processes"
    assert sorted(s for b in batches[1:] for s in b) == ["b", "c", "d"]
    assert {s: r.status for s, r in results.items() if r} == {s: "ok" for s in "abcd"}


def test_every_source_of_a_batch_ends_with_a_closed_run(database: Database) -> None:
    with database.session() as session, session.begin():
        session.add_all([CrawlRun(source_id="old", status="running")])
    after, started = newest_run_id(database), utcnow()
    with database.session() as session, session.begin():
        session.add_all([CrawlRun(source_id="done", status="ok", pages=3, finished_at=utcnow()),
                         CrawlRun(source_id="cut", status="running")])
    killed = ChildExit(-9, killed="the crawl ran past its limit (crawl_timeout 4s)")
    latest = settle_runs(database, ["done", "cut", "never"], after, started, killed, stopping=False)
    assert {s: (r.status, r.message) for s, r in latest.items()} == {
        "done": ("ok", None),
        "cut": ("failed", "killed: the crawl ran past its limit (crawl_timeout 4s)"),
        "never": ("failed", "killed: the crawl ran past its limit (crawl_timeout 4s)"),
    }
    ended_alone = settle_runs(database, ["quiet"], after, started, ChildExit(1), stopping=False)["quiet"]
    assert ended_alone.message == "the crawl process ended (exit code 1) without recording a run"
    on_stop = settle_runs(database, ["late"], after, started, ChildExit(-15), stopping=True)["late"]
    assert (on_stop.status, on_stop.message) == ("interrupted", "the crawl process died of SIGTERM")
    assert interrupt_stale_runs(database, utcnow()) == 1, "the run a killed service left running"
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(CrawlRun).where(CrawlRun.status == "running")) == 0
