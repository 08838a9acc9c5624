"""Writing alerts into the outbox.

Called inside the transaction that stores the article and its matches, so an
article is never stored without its alerts or alerted without being stored.
The unique ``dedupe_key`` (story, watchlist, channel) is what makes a second
alert for the same story impossible, whatever runs twice.

Operations alerts (for whoever runs Hlídka, not for analysts) go through the
same outbox, so they survive the same outages; their key is chosen by the
caller, which makes "tell once" a matter of choosing the same key again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from config import Config
from hlidka.db import Alert, utcnow
from hlidka.db.chunks import chunks


_QUEUED_KEYS = select(Alert.__table__.c.dedupe_key).where(
    Alert.__table__.c.dedupe_key.in_(bindparam("keys", expanding=True)))


def dedupe_key(story_id: int, watchlist_id: str, channel: str) -> str:
    return f"story:{story_id}:{watchlist_id}:{channel}"


def queue_alerts(session: Session, config: Config, article_id: int, story_id: int | None,
                 watchlist_ids: Iterable[str]) -> int:
    """Add one pending alert per (watchlist, channel) not queued before; returns how many were added.

    ``story_id`` is the article's story (None: its own).
    """
    return queue_alerts_of(session, config, [(article_id, story_id, watchlist_ids)])[0]


def queue_alerts_of(session: Session, config: Config,
                    articles: Sequence[tuple[int, int | None, Iterable[str]]]) -> list[int]:
    """:func:`queue_alerts` for each (article, story, watchlists) in turn, with one query and one insert for all.

    In turn: an article whose story an earlier one of ``articles`` already
    alerted for a watchlist gets no second alert for it. Table-level
    statements, because every stored article that matches runs this.
    """
    by_id = {w.id: w for w in config.watchlists}
    wanted = [{
        dedupe_key(story_id or article_id, wid, channel): (wid, channel)
        for wid in watchlist_ids if wid in by_id
        for channel in config.channels_for(by_id[wid])
    } for article_id, story_id, watchlist_ids in articles]
    keys = [key for keys in wanted for key in keys]
    queued = {key for chunk in chunks(keys) for key in session.scalars(_QUEUED_KEYS, {"keys": chunk})}
    rows: list[dict[str, object]] = []
    counts = []
    for (article_id, _, _), wanted_of_article in zip(articles, wanted):
        fresh = {key: target for key, target in wanted_of_article.items() if key not in queued}
        queued.update(fresh)
        rows += [{"dedupe_key": key, "article_id": article_id, "watchlist_id": wid, "channel": channel}
                 for key, (wid, channel) in fresh.items()]
        counts.append(len(fresh))
    if rows:
        session.execute(insert(Alert.__table__), rows)
    return counts


def queue_operations_alert(session: Session, config: Config, key: str, subject: str, body: str,
                           now: datetime | None = None) -> int:
    """Queue ``subject``/``body`` for every ``alerts.operations_channels``, once per ``key``; returns how many.

    Without operations channels nothing is queued: the caller's log line is then the only report.
    ``now`` is the caller's clock, so that the alert is due by it.
    """
    queued_at = now or utcnow()
    wanted = {f"ops:{key}:{channel}": channel for channel in config.settings.alerts.operations_channels}
    if not wanted:
        return 0
    existing = set(session.scalars(select(Alert.dedupe_key).where(Alert.dedupe_key.in_(list(wanted)))))
    for dedupe, channel in wanted.items():
        if dedupe not in existing:
            session.add(Alert(dedupe_key=dedupe, kind="operations", channel=channel, subject=subject, body=body,
                              created_at=queued_at, next_attempt_at=queued_at))
    return len(wanted) - len(existing)
