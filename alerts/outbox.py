"""Writing alerts into the outbox.

Called inside the transaction that stores the article and its matches, so an
article is never stored without its alerts or alerted without being stored.
The unique ``dedupe_key`` (story, watchlist, channel) is what makes a second
alert for the same story impossible, whatever runs twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Config
from hlidka.db import Alert, Article


def dedupe_key(story_id: int, watchlist_id: str, channel: str) -> str:
    return f"story:{story_id}:{watchlist_id}:{channel}"


def queue_alerts(session: Session, config: Config, article: Article, watchlist_ids: Iterable[str]) -> int:
    """Add one pending alert per (watchlist, channel) not queued before; returns how many were added."""
    story_id = article.story_id or article.id
    by_id = {w.id: w for w in config.watchlists}
    wanted = {
        dedupe_key(story_id, wid, channel): (wid, channel)
        for wid in watchlist_ids if wid in by_id
        for channel in config.channels_for(by_id[wid])
    }
    if not wanted:
        return 0
    existing = set(session.scalars(select(Alert.dedupe_key).where(Alert.dedupe_key.in_(list(wanted)))))
    added = 0
    for key, (wid, channel) in wanted.items():
        if key not in existing:
            session.add(Alert(dedupe_key=key, article_id=article.id, watchlist_id=wid, channel=channel))
            added += 1
    return added
