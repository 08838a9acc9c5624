"""A re-checked article whose page changed: keep the new text, alert only what is new.

News pages are corrected and extended after publication. The new text
replaces the stored one (matches, the near-duplicate signature and the
snippet of a still-queued alert then all describe what the page says now);
the replaced text is kept as an :class:`~hlidka.db.models.ArticleVersion`.
An alert goes out only for a watchlist the new text matches and the previous
one did not, and even then not if the article's story already alerted it: a
fixed typo must not alert again, a paragraph that adds North Korea to a NATO
story must.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from alerts.outbox import queue_alerts
from config import Config
from hlidka.db import Article, Match, utcnow
from hlidka.db.models import ArticleVersion
from pipelines.dedupe import content_hash
from pipelines.extraction import Extracted
from pipelines.matching import MatchResult
from pipelines.neardup import signature
from pipelines.stories import index_article


@dataclass(frozen=True)
class UpdateResult:
    changed: bool
    #: The article's version after the call (1 = never changed).
    version: int
    #: Watchlists the new text matches that the previous text did not.
    newly_matched: tuple[str, ...]
    alerts_queued: int


def store_update(session: Session, config: Config, article: Article, extracted: Extracted,
                 matches: Mapping[str, MatchResult]) -> UpdateResult:
    """Store ``extracted`` as the new version of ``article`` if its text changed.

    ``matches`` is the matcher's result for the new title and text (what
    ``MatchPipeline`` puts on the item). Call it inside the transaction that
    commits the change, after :func:`pipelines.stories.lock_stories`, like a
    new article's store. An unchanged text (by :func:`content_hash`) changes
    nothing and queues nothing.
    """
    new_hash = content_hash(extracted.title, extracted.text)
    if new_hash == article.content_hash:
        return UpdateResult(changed=False, version=article.version, newly_matched=(), alerts_queued=0)
    session.add(ArticleVersion(
        article_id=article.id, version=article.version, title=article.title, text=article.text,
        content_hash=article.content_hash, modified_at=article.modified_at, replaced_at=utcnow(),
    ))
    article.title, article.text, article.content_hash = extracted.title, extracted.text, new_hash
    article.language = extracted.language or article.language
    article.author = extracted.author or article.author
    article.published_at = extracted.published or article.published_at
    article.modified_at = extracted.modified or article.modified_at
    article.version += 1

    before = {m.watchlist_id: m for m in article.matches}
    newly = tuple(w for w in matches if w not in before)
    for watchlist_id, result in matches.items():
        hits = [hit.to_dict() for hit in result.hits]
        match = before.pop(watchlist_id, None)
        if match is None:
            article.matches.append(Match(watchlist_id=watchlist_id, score=result.score, hits=hits))
        else:
            match.score, match.hits, match.matched_at = result.score, hits, utcnow()
    for stale in before.values():
        article.matches.remove(stale)  # the relationship's delete-orphan removes the row
    index_article(session, article.id, signature(extracted.text), replace=True)
    session.flush()
    queued = queue_alerts(session, config, article.id, article.story_id, newly)
    return UpdateResult(changed=True, version=article.version, newly_matched=newly, alerts_queued=queued)
