"""Item pipeline: the identity of an article — its canonical URL and the hash of its text.

Whether a page is a duplicate is decided by the store, under the story lock and
inside the transaction that would store it: a check here as well would cost
every page a database round trip in the crawl's reactor thread (more CPU than
matching the page) only to repeat what the store must do anyway, because two
crawls, or two pages of one batch, may bring the same article at once. The
lookups themselves live here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from crawler.items import ArticlePage
from crawler.urls import canonical_url, host_of
from hlidka.db import Article, KnownUrl, shared_database, utcnow
from pipelines.neardup import content_hash
from pipelines.stories import prune_index

__all__ = ["Duplicate", "DedupePipeline", "content_hash", "find_duplicate", "known_urls", "remember_urls"]

# Statements built once, at table level: they run for every stored article, and
# building them (or the ORM's unit of work) would cost more CPU than the queries.
_known = KnownUrl.__table__
_KNOWN_KEYS = select(_known.c.canonical_url, _known.c.article_id).where(
    _known.c.canonical_url.in_(bindparam("keys", expanding=True)))
_SAME_TEXT = select(Article.__table__.c.id).where(Article.__table__.c.content_hash == bindparam("hash")) \
    .order_by(Article.__table__.c.id).limit(1)
_LINK_KEYS = update(_known).where(_known.c.canonical_url.in_(bindparam("keys", expanding=True))) \
    .values(article_id=bindparam("article_id"), reason=None)


@dataclass(frozen=True)
class Duplicate:
    article_id: int
    reason: str


def known_urls(session: Session, keys: Collection[str]) -> dict[str, int | None]:
    """Which of ``keys`` the seen-URL store holds, and the article each leads to (None: no article there)."""
    return {url: article_id for url, article_id in session.execute(_KNOWN_KEYS, {"keys": list(keys)})}


def find_duplicate(session: Session, known: Mapping[str, int | None], text_hash: str) -> Duplicate | None:
    """The stored article a page already is: one of its URLs (``known``, see :func:`known_urls`) or its text."""
    linked = sorted(article_id for article_id in known.values() if article_id)
    if linked:
        return Duplicate(linked[0], "URL already stored")
    article_id = session.scalar(_SAME_TEXT, {"hash": text_hash})
    return Duplicate(article_id, "same text as a stored article") if article_id else None


def remember_urls(session: Session, article_id: int, keys: Collection[str], source_id: str,
                  known: Mapping[str, int | None] | None = None) -> None:
    """Point every URL the article was found under at it, so none of them is fetched again.

    A URL recorded earlier as giving no article (a redirect target, a page that
    was too short then) now leads to this one. ``known`` saves the lookup when
    the caller has just made it.
    """
    if known is None:
        known = known_urls(session, keys)
    new = [{"canonical_url": key, "source_id": source_id, "article_id": article_id}
           for key in sorted(keys) if key not in known]
    if new:
        session.execute(insert(_known), new)
    unlinked = [key for key, linked in known.items() if linked is None]
    if unlinked:
        session.execute(_LINK_KEYS, {"keys": unlinked, "article_id": article_id})


class DedupePipeline:
    """Settles the article's canonical URL (the hash of its text came with the extraction).

    The page's own ``<link rel=canonical>`` wins over the URL it was reached
    by, when it points at the same site: that is how the MoD's article on two
    hosts, or a listing link with tracking parameters, becomes one key. Every
    key the page is known under travels on, so that the store, finding it a
    duplicate, still learns its new URLs and does not fetch them again.
    """

    def __init__(self, crawler: Any):
        self.database = shared_database(crawler.settings["HLIDKA_DATABASE_URL"])
        self.window = crawler.settings["HLIDKA_CONFIG"].settings.dedupe.window

    @classmethod
    def from_crawler(cls, crawler: Any) -> DedupePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        """Keep the near-duplicate index to the comparison window; once per crawl is often enough."""
        with self.database.session() as session, session.begin():
            prune_index(session, utcnow() - self.window)

    def process_item(self, item: ArticlePage) -> ArticlePage:
        extracted = item.extracted
        assert extracted is not None, "DedupePipeline runs after ExtractPipeline"
        declared = extracted.canonical_url
        if declared and self._same_site(item, declared):
            item.canonical_url = canonical_url(declared, item.aliases)
            item.url_keys.add(item.canonical_url)
        return item

    @staticmethod
    def _same_site(item: ArticlePage, url: str) -> bool:
        host = host_of(url)
        primaries = {host_of(origin) for origin in item.aliases.values()}
        return host == host_of(item.url) or host in item.aliases or host in primaries
