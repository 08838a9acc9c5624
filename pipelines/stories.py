"""Stories: which stored article a new one repeats, settled in the transaction that stores it.

A story is its first article plus every later article whose text is a near
duplicate of a member (``Article.story_id`` is the first article's id). The
alert key is per story and watchlist, so a later member alerts only the
watchlists the story has not alerted yet.

The near-duplicate index lives in the database, beside the articles: each
article's MinHash signature, and one row per LSH band key. Crawls run as
short-lived processes, several at a time; an index in the database needs no
rebuilding at each process start, no memory per process, and is always
current, because a new article's bands are committed with the article.
``bench/dedupe.py`` compares it with an in-memory datasketch index rebuilt
from the stored signatures.

Two crawls storing copies of one story at the same moment could each miss
the other's uncommitted article, so every store first takes :func:`lock_stories`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from hlidka.db import Article
from hlidka.db.models import ArticleBand, ArticleSignature, StoryLock
from pipelines.neardup import Signature

_LOCK_ROW = 1
# Statements built once, at table level: every stored article runs them, and building
# them (or the ORM's unit of work) would cost more CPU than the queries themselves.
_articles = Article.__table__
_bands = ArticleBand.__table__
_signatures = ArticleSignature.__table__
_lock = StoryLock.__table__
_TAKE_LOCK = update(_lock).where(_lock.c.id == _LOCK_ROW).values(stored=_lock.c.stored + 1)
_SHARING_A_BAND = select(_bands.c.article_id).where(_bands.c.band_key.in_(bindparam("keys", expanding=True))).distinct()
_CANDIDATES = (
    select(_signatures.c.article_id, _signatures.c.minhash, _signatures.c.shingles, _articles.c.story_id)
    .join(_articles, _articles.c.id == _signatures.c.article_id)
    .where(_signatures.c.article_id.in_(bindparam("ids", expanding=True)), _articles.c.fetched_at >= bindparam("since"))
)
_SET_STORY = update(_articles).where(_articles.c.id == bindparam("article_id")).values(story_id=bindparam("story_id"))


@dataclass(frozen=True)
class StoryMatch:
    """The stored article a new one is a near duplicate of, and the story it thereby joins."""

    article_id: int
    story_id: int
    similarity: float


def lock_stories(session: Session) -> None:
    """Hold the story lock until this transaction ends.

    An UPDATE of one row is the portable lock: PostgreSQL locks the row until
    commit, SQLite takes its database write lock (waiting out ``busy_timeout``).
    """
    session.execute(_TAKE_LOCK)


def find_story(session: Session, signature: Signature, threshold: float, since: datetime) -> StoryMatch | None:
    """The most similar article fetched since ``since`` whose similarity reaches ``threshold``."""
    if not signature.shingles:
        return None
    # Two plain queries rather than one with a subquery: nearly always the first finds nothing,
    # and both planners then have only primary-key lookups to choose.
    ids = list(session.scalars(_SHARING_A_BAND, {"keys": list(signature.band_keys)}))
    if not ids:
        return None
    candidates = session.execute(_CANDIDATES, {"ids": ids, "since": since}).all()
    best: StoryMatch | None = None
    for row in candidates:
        similarity = signature.similarity(Signature.from_bytes(row.minhash, row.shingles))
        if similarity < threshold:
            continue
        if best is None or (similarity, -row.article_id) > (best.similarity, -best.article_id):
            best = StoryMatch(row.article_id, row.story_id or row.article_id, similarity)
    return best


def index_article(session: Session, article_id: int, signature: Signature, *, replace: bool = False) -> None:
    """Store the article's signature and band keys; ``replace`` those it has (its text changed)."""
    if replace:
        session.execute(delete(_bands).where(_bands.c.article_id == article_id))
        session.execute(delete(_signatures).where(_signatures.c.article_id == article_id))
    session.execute(insert(_signatures), {"article_id": article_id, "minhash": signature.to_bytes(),
                                          "shingles": signature.shingles})
    if signature.shingles:
        session.execute(insert(_bands), [{"band_key": k, "article_id": article_id} for k in signature.band_keys])


def assign_story(session: Session, article_id: int, signature: Signature, threshold: float,
                 since: datetime) -> tuple[int, StoryMatch | None]:
    """Put a just-inserted article into the story it repeats, or start its own; index it either way.

    Returns the story id and, when it joined an existing story, the article it repeats.
    """
    match = find_story(session, signature, threshold, since)
    story_id = match.story_id if match else article_id
    session.execute(_SET_STORY, {"article_id": article_id, "story_id": story_id})
    index_article(session, article_id, signature)
    return story_id, match


def prune_index(session: Session, before: datetime) -> int:
    """Drop the band keys of articles fetched before ``before``: no comparison window reaches them.

    The keys are most of the index (42 rows per article); a signature (0.5 KB) stays with its article.
    """
    old = select(_articles.c.id).where(_articles.c.fetched_at < before).scalar_subquery()
    result = session.execute(delete(_bands).where(_bands.c.article_id.in_(old)))
    return result.rowcount or 0
