"""Scrapy extension that records each source's run in the ``crawl_runs`` table.

The record is what ``hlidka status`` shows and what source-health checks read:
pages fetched, articles found and new, errors, and whether the run is to be
trusted at all (a run that could not read a single listing page failed, even
if Scrapy itself finished cleanly).
"""

from __future__ import annotations

from typing import Any

from scrapy import signals

from hlidka.db import CrawlRun, shared_database, utcnow


#: Stats that deserve a line in the run's record even when the run succeeded.
_NOTES = (
    ("hlidka/budget_refused", "request budget (max_requests) spent: a spider trap, or a source that needs more"),
    ("hlidka/retry_after_too_long", "the site asked to wait longer than max_retry_after: pages left for the next run"),
    ("hlidka/requests_failed", "some pages failed and will be retried on the next run"),
)


class CrawlRunRecorder:
    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.database = shared_database(crawler.settings["HLIDKA_DATABASE_URL"])
        self.run_id: int | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> CrawlRunRecorder:
        return cls(crawler)

    def spider_opened(self, spider: Any) -> None:
        with self.database.session() as session, session.begin():
            run = CrawlRun(source_id=spider.source_id, status="running")
            session.add(run)
            session.flush()
            self.run_id = run.id

    def spider_closed(self, spider: Any, reason: str) -> None:
        stats = self.crawler.stats.get_stats()
        errors = int(stats.get("log_count/ERROR", 0)) + int(stats.get("downloader/exception_count", 0))
        listings = int(stats.get("hlidka/listing_pages", 0))
        failed = reason != "finished" or listings == 0
        notes = [note for key, note in _NOTES if stats.get(key)]
        if failed:
            exceptions = sorted(k.rsplit("/", 1)[-1] for k in stats if k.startswith("downloader/exception_type_count/"))
            statuses = sorted(k.rsplit("/", 1)[-1] for k in stats if k.startswith("downloader/response_status_count/"))
            notes.insert(0, f"finish reason {reason!r}; listing pages read: {listings}")
            if exceptions:
                notes.append(f"errors: {', '.join(exceptions)}")
            if statuses:
                notes.append(f"HTTP statuses: {', '.join(statuses)}")
        message = "; ".join(notes) or None
        with self.database.session() as session, session.begin():
            run = session.get(CrawlRun, self.run_id)
            assert run is not None
            run.finished_at = utcnow()
            run.status = "failed" if failed else "ok"
            run.pages = int(stats.get("downloader/response_count", 0))
            run.articles_found = int(stats.get("hlidka/articles_found", 0))
            run.articles_new = int(stats.get("hlidka/articles_new", 0))
            run.errors = errors
            run.message = message
            # Absent (None) when no listing was read with a body: an unchanged (304) listing says nothing.
            links = stats.get("hlidka/article_links")
            run.article_links = None if links is None else int(links)
            run.articles_rejected = int(stats.get("hlidka/articles_rejected", 0))
