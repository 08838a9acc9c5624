"""Prometheus metrics of ``hlidka run``, read from the database at each scrape.

The crawls run in child processes, so in-process counters would see none of
their work; and the database already records every run, article, match and
alert. Each scrape therefore asks the database (a handful of aggregate
queries), which also makes the figures survive restarts: the ``_total``
series are monotonic because the rows they count are only ever added. The
service's own memory and CPU come from prometheus_client's process collector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select, text

from config import Config
from hlidka.db import Alert, CrawlRun, Database, Match, utcnow
from hlidka.db.models import SourceHealth

QUEUED = ("pending", "sending")


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


class DatabaseCollector(Collector):
    """Every figure below comes from one scrape-time query; nothing is counted in memory."""

    def __init__(self, database: Database, config: Callable[[], Config]):
        self.database = database
        self.config = config

    def collect(self) -> Iterator[Any]:
        configured = [s.id for s in self.config().sources]
        with self.database.session() as session:
            yield from self._runs(session, configured)
            yield from self._schedule(session)
            yield from self._health(session, configured)
            yield from self._matches(session)
            yield from self._alerts(session)

    def _runs(self, session: Any, configured: list[str]) -> Iterator[Any]:
        runs = CounterMetricFamily("hlidka_crawl_runs", "Crawl runs recorded, by source and result.",
                                   labels=["source", "status"])
        for source, status, count in session.execute(
                select(CrawlRun.source_id, CrawlRun.status, func.count()).group_by(CrawlRun.source_id, CrawlRun.status)):
            runs.add_metric([source, status], count)
        yield runs
        pages = CounterMetricFamily("hlidka_crawl_pages", "Pages downloaded by crawl runs.", labels=["source"])
        found = CounterMetricFamily("hlidka_articles_found", "New article links found on listings.", labels=["source"])
        new = CounterMetricFamily("hlidka_articles_new", "New articles stored.", labels=["source"])
        last_run = GaugeMetricFamily("hlidka_source_last_run_timestamp_seconds", "Start of the source's last run.",
                                     labels=["source"])
        last_ok = GaugeMetricFamily("hlidka_source_last_success_timestamp_seconds",
                                    "End of the source's last successful run.", labels=["source"])
        duration = GaugeMetricFamily("hlidka_source_last_run_duration_seconds",
                                     "How long the source's last finished run took.", labels=["source"])
        latest = select(func.max(CrawlRun.id)).where(CrawlRun.finished_at.is_not(None)).group_by(CrawlRun.source_id)
        for source, began, ended in session.execute(
                select(CrawlRun.source_id, CrawlRun.started_at, CrawlRun.finished_at).where(CrawlRun.id.in_(latest))):
            duration.add_metric([source], max((ended - began).total_seconds(), 0.0))
        seen = set()
        for source, page_sum, found_sum, new_sum, started, succeeded in session.execute(
                select(CrawlRun.source_id, func.sum(CrawlRun.pages), func.sum(CrawlRun.articles_found),
                       func.sum(CrawlRun.articles_new), func.max(CrawlRun.started_at),
                       func.max(case((CrawlRun.status == "ok", CrawlRun.finished_at))))
                .group_by(CrawlRun.source_id)):
            seen.add(source)
            pages.add_metric([source], page_sum or 0)
            found.add_metric([source], found_sum or 0)
            new.add_metric([source], new_sum or 0)
            last_run.add_metric([source], _seconds(started) or 0)
            if succeeded is not None:
                last_ok.add_metric([source], _seconds(succeeded) or 0)
        for source in configured:
            if source not in seen:
                for family in (pages, found, new):
                    family.add_metric([source], 0)
        yield from (pages, found, new, last_run, last_ok, duration)

    def _schedule(self, session: Any) -> Iterator[Any]:
        from alerts.jobs import JOB_PREFIX

        upcoming = GaugeMetricFamily("hlidka_source_next_run_timestamp_seconds", "When the source is crawled next.",
                                     labels=["source"])
        for job_id, next_run in session.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")):
            if job_id.startswith(JOB_PREFIX) and next_run is not None:
                upcoming.add_metric([job_id.removeprefix(JOB_PREFIX)], next_run)
        yield upcoming

    def _health(self, session: Any, configured: list[str]) -> Iterator[Any]:
        broken = GaugeMetricFamily("hlidka_source_broken", "1 while source health reports the source broken.",
                                   labels=["source", "reason"])
        states = {row.source_id: row for row in session.scalars(select(SourceHealth))}
        for source in configured:  # a source removed from the configuration is no one's concern any more
            state = states.get(source)
            is_broken = state is not None and state.state == "broken"
            broken.add_metric([source, (state.reason or "") if is_broken and state else ""], 1 if is_broken else 0)
        yield broken

    def _matches(self, session: Any) -> Iterator[Any]:
        matches = CounterMetricFamily("hlidka_matches", "Articles matched, by watchlist.", labels=["watchlist"])
        for watchlist, count in session.execute(select(Match.watchlist_id, func.count()).group_by(Match.watchlist_id)):
            matches.add_metric([watchlist], count)
        yield matches

    def _alerts(self, session: Any) -> Iterator[Any]:
        sent = CounterMetricFamily("hlidka_alerts_sent", "Alerts delivered.", labels=["channel", "kind"])
        failed = CounterMetricFamily("hlidka_alerts_failed", "Alerts given up after retrying.", labels=["channel", "kind"])
        depth = GaugeMetricFamily("hlidka_alert_queue_depth", "Alerts waiting to be sent (pending or being sent).",
                                  labels=["channel"])
        oldest = GaugeMetricFamily("hlidka_alert_queue_oldest_seconds", "Age of the oldest alert waiting.",
                                   labels=["channel"])
        queued: dict[str, int] = {}
        first_queued: dict[str, datetime] = {}
        for channel, kind, status, count, first in session.execute(
                select(Alert.channel, Alert.kind, Alert.status, func.count(), func.min(Alert.created_at))
                .group_by(Alert.channel, Alert.kind, Alert.status)):
            if status == "sent":
                sent.add_metric([channel, kind], count)
            elif status == "failed":
                failed.add_metric([channel, kind], count)
            elif status in QUEUED:
                queued[channel] = queued.get(channel, 0) + count
                if first is not None and (channel not in first_queued or first < first_queued[channel]):
                    first_queued[channel] = first
        now = utcnow()
        for channel in sorted(set(self.config().settings.channels) | set(queued)):
            depth.add_metric([channel], queued.get(channel, 0))
            oldest.add_metric([channel], max((now - first_queued[channel]).total_seconds(), 0.0)
                              if channel in first_queued else 0.0)
        yield from (sent, failed, depth, oldest)


def registry_for(database: Database, config: Callable[[], Config]) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(database, config))
    ProcessCollector(registry=registry)
    return registry


def serve_metrics(database: Database, config: Callable[[], Config], host: str, port: int) -> tuple[Any, int]:
    """Serve ``/metrics`` from a thread; returns the server (``shutdown()`` stops it) and its port."""
    server, _thread = start_http_server(port, addr=host, registry=registry_for(database, config))
    return server, server.server_port
