"""What ``hlidka status`` shows, read from the database: one dict, the same for the table and ``--json``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from alerts.jobs import JOB_PREFIX, describe_schedule
from config import Config
from hlidka.db import Alert, Article, CrawlRun, Database, utcnow
from hlidka.db.models import ServiceInstance, SourceHealth

#: A heartbeat older than this means the service is gone (it beats every 10 s).
STALE_HEARTBEAT = timedelta(seconds=60)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _service(database: Database, now: datetime) -> dict[str, Any]:
    with database.session() as session:
        row = session.scalars(select(ServiceInstance)).first()
    if row is None:
        return {"running": False, "holder": None, "started_at": None, "heartbeat_at": None, "stopped_at": None}
    running = row.stopped_at is None and now - row.heartbeat_at < STALE_HEARTBEAT
    return {"running": running, "holder": row.holder, "started_at": _iso(row.started_at),
            "heartbeat_at": _iso(row.heartbeat_at), "stopped_at": _iso(row.stopped_at)}


def _next_runs(database: Database) -> dict[str, datetime]:
    with database.session() as session:
        rows = session.execute(text("SELECT id, next_run_time FROM apscheduler_jobs"))
        return {job_id.removeprefix(JOB_PREFIX): datetime.fromtimestamp(when, UTC)
                for job_id, when in rows if job_id.startswith(JOB_PREFIX) and when is not None}


def _sources(config: Config, database: Database, now: datetime) -> list[dict[str, Any]]:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    next_runs = _next_runs(database)
    with database.session() as session:
        latest_ids = select(func.max(CrawlRun.id)).where(CrawlRun.status != "running").group_by(CrawlRun.source_id)
        last = {run.source_id: run for run in session.scalars(select(CrawlRun).where(CrawlRun.id.in_(latest_ids)))}
        running = set(session.scalars(select(CrawlRun.source_id).where(CrawlRun.status == "running")))
        new_today = dict(session.execute(select(Article.source_id, func.count())
                                         .where(Article.fetched_at >= today).group_by(Article.source_id)).all())
        health = {row.source_id: row for row in session.scalars(select(SourceHealth))}
    sources = []
    for source in config.sources:
        run, state = last.get(source.id), health.get(source.id)
        sources.append({
            "id": source.id,
            "name": source.name,
            "enabled": source.enabled,
            "schedule": describe_schedule(source) if source.enabled else "disabled",
            "crawling": source.id in running,
            "last_run": None if run is None else {
                "id": run.id, "started_at": _iso(run.started_at), "finished_at": _iso(run.finished_at),
                "duration_seconds": None if run.finished_at is None
                else round((run.finished_at - run.started_at).total_seconds(), 1),
                "status": run.status, "pages": run.pages, "article_links": run.article_links,
                "articles_found": run.articles_found, "articles_new": run.articles_new, "errors": run.errors,
                "message": run.message,
            },
            "new_today": int(new_today.get(source.id, 0)),
            "next_run": _iso(next_runs.get(source.id)) if source.enabled else None,
            "health": {"state": state.state if state else "unknown", "reason": state.reason if state else None,
                       "problem": state.problem if state else None, "since": _iso(state.since) if state else None},
        })
    return sources


def _queue(database: Database, today: datetime) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(channel: str, kind: str) -> dict[str, Any]:
        return rows.setdefault((channel, kind), {"channel": channel, "kind": kind, "pending": 0, "sending": 0,
                                                 "failed": 0, "sent_today": 0, "oldest_waiting": None})

    with database.session() as session:
        for channel, kind, status, count, oldest in session.execute(
                select(Alert.channel, Alert.kind, Alert.status, func.count(), func.min(Alert.created_at))
                .group_by(Alert.channel, Alert.kind, Alert.status)):
            entry = row(channel, kind)
            if status in ("pending", "sending", "failed"):
                entry[status] += count
            if status in ("pending", "sending") and oldest is not None:
                waiting = _iso(oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC))
                entry["oldest_waiting"] = min(filter(None, [entry["oldest_waiting"], waiting]))
        for channel, kind, count in session.execute(
                select(Alert.channel, Alert.kind, func.count()).where(Alert.status == "sent", Alert.sent_at >= today)
                .group_by(Alert.channel, Alert.kind)):
            row(channel, kind)["sent_today"] = count
    return sorted(rows.values(), key=lambda r: (r["channel"], r["kind"]))


def gather(config: Config, database: Database) -> dict[str, Any]:
    now = utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "generated_at": _iso(now),
        "database": make_url(config.database_url).render_as_string(hide_password=True),
        "service": _service(database, now),
        "sources": _sources(config, database, now),
        "alert_queue": _queue(database, today),
    }
