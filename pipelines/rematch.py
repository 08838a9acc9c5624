"""Re-run watchlists over stored articles: backfill after an analyst edits a watchlist.

Matches are recomputed for the chosen watchlists: new matches are added,
changed ones updated, and matches the edited watchlist no longer supports are
removed. Alerts are queued only when asked, and then only for matches that are
new, and the outbox's unique key still prevents a second alert for a story.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from alerts.outbox import queue_alerts
from config import Config
from hlidka.db import Article, Database, Match
from pipelines.matching import Matcher


@dataclass
class RematchReport:
    articles: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    alerts_queued: int = 0


def rematch(
    database: Database,
    config: Config,
    watchlist_ids: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    alert: bool = False,
    batch_size: int = 500,
) -> RematchReport:
    chosen = [w for w in config.watchlists if not watchlist_ids or w.id in watchlist_ids]
    unknown = set(watchlist_ids or ()) - {w.id for w in chosen}
    if unknown:
        raise KeyError(", ".join(sorted(unknown)))
    matcher = Matcher(chosen)
    chosen_ids = {w.id for w in chosen}
    report = RematchReport()
    query = select(Article).order_by(Article.id)
    if since:
        query = query.where(Article.fetched_at >= since)
    if until:
        query = query.where(Article.fetched_at < until)
    last_id = 0
    while True:
        with database.session() as session, session.begin():
            articles = session.scalars(query.where(Article.id > last_id).limit(batch_size)).all()
            if not articles:
                break
            for article in articles:
                last_id = article.id
                report.articles += 1
                _rematch_article(session, config, matcher, chosen_ids, article, alert, report)
    return report


def _rematch_article(session, config: Config, matcher: Matcher, chosen_ids: set[str],  # type: ignore[no-untyped-def]
                     article: Article, alert: bool, report: RematchReport) -> None:
    results = matcher.match(title=article.title, text=article.text, language=article.language)
    existing = {m.watchlist_id: m for m in article.matches if m.watchlist_id in chosen_ids}
    new_ids = []
    for watchlist_id, result in results.items():
        hits = [h.to_dict() for h in result.hits]
        match = existing.pop(watchlist_id, None)
        if match is None:
            session.add(Match(article_id=article.id, watchlist_id=watchlist_id, score=result.score, hits=hits))
            new_ids.append(watchlist_id)
            report.added += 1
        elif match.score != result.score or match.hits != hits:
            match.score, match.hits = result.score, hits
            report.updated += 1
    for stale in existing.values():
        session.delete(stale)
        report.removed += 1
    if alert and new_ids:
        session.flush()
        report.alerts_queued += queue_alerts(session, config, article.id, article.story_id, new_ids)
