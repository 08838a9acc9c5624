"""Run crawls of some sources in this process, with the user's configuration applied.

The Twisted reactor can start once per process, so a process runs one batch
of sources and exits; the service starts a fresh child per batch (which also
isolates it from crashes and leaks in a crawl).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings
from sqlalchemy import select

from config import Config
from crawler.spiders.sources import SourceSpider
from hlidka.db import CrawlRun, shared_database
from pipelines.workers import extraction_pool, shutdown_pool

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    source_id: str
    started_at: datetime
    status: str
    pages: int
    articles_found: int
    articles_new: int
    errors: int
    message: str | None


def crawl_settings(config: Config, overrides: dict[str, object] | None = None) -> Settings:
    """Project settings overlaid with ``settings.yaml``'s crawl section."""
    settings = get_project_settings()
    settings.setmodule("crawler.settings", priority="project")
    crawl = config.settings.crawl
    user_agent = crawl.user_agent
    if crawl.contact_url and crawl.contact_url not in user_agent:
        user_agent = f"{user_agent} (+{crawl.contact_url})"
    settings.setdict({
        "USER_AGENT": user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots_txt,
        "DOWNLOAD_TIMEOUT": crawl.download_timeout.total_seconds(),
        "DOWNLOAD_MAXSIZE": crawl.max_response_bytes,
        "DOWNLOAD_WARNSIZE": min(crawl.max_response_bytes, settings.getint("DOWNLOAD_WARNSIZE")),
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_requests_per_domain,
        "DOWNLOAD_DELAY": crawl.download_delay.total_seconds(),
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.download_delay.total_seconds(), 0.01),
        "RETRY_TIMES": crawl.retry_times,
        "HLIDKA_RETRY_BACKOFF": crawl.retry_backoff.total_seconds(),
        "HLIDKA_MAX_RETRY_AFTER": crawl.max_retry_after.total_seconds(),
        "HLIDKA_RESOLVE": dict(crawl.resolve),
        "HLIDKA_EXTRACT_WORKERS": crawl.extraction_workers,
        "LOG_LEVEL": config.settings.log_level,
        "LOG_INSTALL_ROOT_HANDLER": False,  # the hlidka command has set up logging already
        "HLIDKA_CONFIG": config,
        "HLIDKA_DATABASE_URL": config.database_url,
    }, priority="cmdline")
    if overrides:
        settings.setdict(overrides, priority="cmdline")
    return settings


def run_crawl(config: Config, source_ids: Sequence[str], overrides: dict[str, object] | None = None) -> list[RunSummary]:
    """Crawl the given sources concurrently; blocks until all are done."""
    for source_id in source_ids:
        config.source(source_id)  # KeyError early, before the reactor starts
    settings = crawl_settings(config, overrides)
    # Before the reactor and its threads exist, so the workers can be forked (see pipelines.workers).
    freeze_heap()
    extraction_pool(settings.getint("HLIDKA_EXTRACT_WORKERS") or None)
    process = CrawlerProcess(settings)
    # After CrawlerProcess: its configure_logging() puts the "scrapy" logger back to DEBUG, which logs
    # every item in full ("Scraped from …", an article's whole text) and costs the crawl real CPU.
    logging.getLogger("scrapy").setLevel(config.settings.log_level)
    if config.settings.log_level != "DEBUG":
        # Component lists and overridden settings on every run drown the service log.
        for chatty in ("scrapy.middleware", "scrapy.addons", "scrapy.crawler", "scrapy.utils.log"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    for source_id in source_ids:
        process.crawl(SourceSpider, source=source_id)  # builds each crawler's engine, pipelines and matcher
    freeze_heap()
    try:
        process.start()
    finally:
        shutdown_pool()
        gc.unfreeze()  # a process that goes on after the crawl (a test session) collects it all again
    return latest_runs(config, source_ids)


def freeze_heap() -> None:
    """Exempt everything built so far from the garbage collector's full passes.

    Imports, settings, the watchlists' matcher and its lemma dictionaries are
    hundreds of thousands of objects that live as long as the process. Left in
    the collector's oldest generation, each full pass walks all of them while
    holding the GIL, during which the reactor thread neither fetches nor feeds
    the extraction workers, which then sit idle. Measured on a 2,000-article
    crawl (``bench/crawl.py``'s site): full passes took 1.2 CPU-s, the longest
    170–230 ms; frozen, 0.5 s and 100 ms. Frozen before the pool forks, they
    are also not walked (nor their pages copied) by the workers' collections.
    """
    gc.collect()
    gc.freeze()


def latest_runs(config: Config, source_ids: Sequence[str]) -> list[RunSummary]:
    database = shared_database(config.database_url)
    summaries = []
    with database.session() as session:
        for source_id in source_ids:
            run = session.scalars(
                select(CrawlRun).where(CrawlRun.source_id == source_id).order_by(CrawlRun.id.desc()).limit(1)
            ).first()
            if run is not None:
                summaries.append(RunSummary(run.source_id, run.started_at, run.status, run.pages, run.articles_found,
                                            run.articles_new, run.errors, run.message))
    return summaries
