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

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from hlidka.db import Article
from hlidka.db.chunks import chunks
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
_SHARING_A_BAND = select(_bands.c.band_key, _bands.c.article_id).where(
    _bands.c.band_key.in_(bindparam("keys", expanding=True)))
_CANDIDATES = (
    select(_signatures.c.article_id, _signatures.c.minhash, _signatures.c.shingles, _articles.c.story_id)
    .join(_articles, _articles.c.id == _signatures.c.article_id)
    .where(_signatures.c.article_id.in_(bindparam("ids", expanding=True)), _articles.c.fetched_at >= bindparam("since"))
)


@dataclass(frozen=True)
class StoryMatch:
    """The stored article a new one is a near duplicate of, and the story it thereby joins."""

    article_id: int
    story_id: int
    similarity: float


@dataclass(frozen=True)
class _Candidate:
    article_id: int
    story_id: int
    signature: Signature


def lock_stories(session: Session) -> None:
    """Hold the story lock until this transaction ends.

    An UPDATE of one row is the portable lock: PostgreSQL locks the row until
    commit, SQLite takes its database write lock (waiting out ``busy_timeout``).
    """
    session.execute(_TAKE_LOCK)


class StoryFinder:
    """The near-duplicate candidates of a batch of signatures, fetched with two queries for the whole batch.

    Two plain queries rather than one with a subquery: nearly always the first
    finds nothing, and both planners then have only index lookups to choose.
    Articles stored earlier in the same batch are added with :meth:`add`, so a
    page repeating one stored a moment before it is judged as if that one had
    been committed already.
    """

    def __init__(self, session: Session, signatures: Iterable[Signature], since: datetime):
        keys = {key for signature in signatures if signature.shingles for key in signature.band_keys}
        pairs = [(row.band_key, row.article_id)
                 for chunk in chunks(keys) for row in session.execute(_SHARING_A_BAND, {"keys": chunk})]
        candidates: dict[int, _Candidate] = {}
        for chunk in chunks({article_id for _, article_id in pairs}):
            for row in session.execute(_CANDIDATES, {"ids": chunk, "since": since}):
                candidates[row.article_id] = _Candidate(row.article_id, row.story_id or row.article_id,
                                                        Signature.from_bytes(row.minhash, row.shingles))
        self._by_band: dict[int, list[_Candidate]] = defaultdict(list)
        for key, article_id in pairs:
            if article_id in candidates:
                self._by_band[key].append(candidates[article_id])

    def find(self, signature: Signature, threshold: float) -> StoryMatch | None:
        """The most similar candidate whose similarity reaches ``threshold`` (the oldest of equals)."""
        if not signature.shingles:
            return None
        sharing = {c.article_id: c for key in signature.band_keys for c in self._by_band.get(key, ())}
        best: StoryMatch | None = None
        for candidate in sharing.values():
            similarity = signature.similarity(candidate.signature)
            if similarity < threshold:
                continue
            if best is None or (similarity, -candidate.article_id) > (best.similarity, -best.article_id):
                best = StoryMatch(candidate.article_id, candidate.story_id, similarity)
        return best

    def add(self, article_id: int, story_id: int, signature: Signature) -> None:
        """A just-stored article becomes a candidate for the pages after it."""
        if signature.shingles:
            candidate = _Candidate(article_id, story_id, signature)
            for key in signature.band_keys:
                self._by_band[key].append(candidate)


def find_story(session: Session, signature: Signature, threshold: float, since: datetime) -> StoryMatch | None:
    """The most similar article fetched since ``since`` whose similarity reaches ``threshold``."""
    return StoryFinder(session, [signature], since).find(signature, threshold)


def index_articles(session: Session, signatures: Sequence[tuple[int, Signature]]) -> None:
    """Store the articles' signatures and band keys, one statement per table for all of them."""
    if not signatures:
        return
    session.execute(insert(_signatures), [{"article_id": article_id, "minhash": signature.to_bytes(),
                                           "shingles": signature.shingles} for article_id, signature in signatures])
    bands = [{"band_key": key, "article_id": article_id}
             for article_id, signature in signatures if signature.shingles for key in signature.band_keys]
    if bands:
        session.execute(insert(_bands), bands)


def index_article(session: Session, article_id: int, signature: Signature, *, replace: bool = False) -> None:
    """Store the article's signature and band keys; ``replace`` those it has (its text changed)."""
    if replace:
        session.execute(delete(_bands).where(_bands.c.article_id == article_id))
        session.execute(delete(_signatures).where(_signatures.c.article_id == article_id))
    index_articles(session, [(article_id, signature)])


def prune_index(session: Session, before: datetime) -> int:
    """Drop the band keys of articles fetched before ``before``: no comparison window reaches them.

    The keys are most of the index (42 rows per article); a signature (0.5 KB) stays with its article.
    """
    old = select(_articles.c.id).where(_articles.c.fetched_at < before).scalar_subquery()
    result = session.execute(delete(_bands).where(_bands.c.article_id.in_(old)))
    return result.rowcount or 0
