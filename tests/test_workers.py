"""The extraction pool's size: one worker per CPU the process may use, or what settings.yaml says."""

from __future__ import annotations

import os
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
    import time

    time.sleep(0.05)  # long enough that every worker gets some of the tasks
    return os.getpid()


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
    assert len(set(pool.map(_pid, range(24)))) == 3
    assert workers.extraction_pool(1) is pool, "later calls share the first pool"


def test_settings_yaml_sizes_the_pool(tmp_path: Path) -> None:
    crawl = CrawlSettings.model_validate({"extraction_workers": 3})
    settings = crawl_settings(Config(directory=tmp_path, settings=Settings(crawl=crawl), sources=(), watchlists=()))
    assert settings.getint("HLIDKA_EXTRACT_WORKERS") == 3
    defaults = crawl_settings(Config(directory=tmp_path, settings=Settings(), sources=(), watchlists=()))
    assert defaults.getint("HLIDKA_EXTRACT_WORKERS") == 0, "0 = one per CPU"
