"""Item pipeline: the identity of an article — its canonical URL and the hash of its text.

Whether a page is a duplicate is decided by the store, under the story lock and
inside the transaction that would store it: a check here as well would cost
every page a database round trip in the crawl's reactor thread (more CPU than
matching the page) only to repeat what the store must do anyway, because two
crawls, or two pages of one batch, may bring the same article at once. The
lookups themselves live here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from crawler.items import ArticlePage
from crawler.urls import canonical_url, host_of
from hlidka.db import Article, KnownUrl, shared_database, utcnow
from hlidka.db.chunks import chunks
from pipelines.neardup import content_hash
from pipelines.stories import prune_index

__all__ = ["DedupePipeline", "Duplicate", "UrlBook", "content_hash", "known_urls", "remember_urls", "stored_texts"]

# Statements built once, at table level: they run for every stored article, and
# building them (or the ORM's unit of work) would cost more CPU than the queries.
_known = KnownUrl.__table__
_KNOWN_KEYS = select(_known.c.canonical_url, _known.c.article_id).where(
    _known.c.canonical_url.in_(bindparam("keys", expanding=True)))
_articles = Article.__table__
_SAME_TEXT = select(_articles.c.content_hash, func.min(_articles.c.id)) \
    .where(_articles.c.content_hash.in_(bindparam("hashes", expanding=True))).group_by(_articles.c.content_hash)
_LINK_KEYS = update(_known).where(_known.c.canonical_url.in_(bindparam("keys", expanding=True))) \
    .values(article_id=bindparam("article_id"), reason=None)


@dataclass(frozen=True)
class Duplicate:
    article_id: int
    reason: str


def known_urls(session: Session, keys: Collection[str]) -> dict[str, int | None]:
    """Which of ``keys`` the seen-URL store holds, and the article each leads to (None: no article there)."""
    return {url: article_id for chunk in chunks(keys) for url, article_id in session.execute(_KNOWN_KEYS, {"keys": chunk})}


def stored_texts(session: Session, hashes: Collection[str]) -> dict[str, int]:
    """The first stored article with each of the text hashes ``hashes``, for those stored."""
    return {text_hash: article_id for chunk in chunks(hashes)
            for text_hash, article_id in session.execute(_SAME_TEXT, {"hashes": chunk})}


class UrlBook:
    """The seen-URL store as a batch of pages sees it: what is stored, plus what the batch has claimed.

    Claims are written by :meth:`write`, one statement for the new URLs and one
    per article for URLs recorded earlier without one, so that a batch costs a
    few statements rather than a few per page.
    """

    def __init__(self, known: Mapping[str, int | None]):
        self._owner = dict(known)
        self._new: list[dict[str, object]] = []
        self._links: dict[int, list[str]] = defaultdict(list)

    def duplicate(self, keys: Collection[str]) -> Duplicate | None:
        """The article one of ``keys`` leads to already (the oldest, when several do)."""
        linked = sorted(article_id for key in keys if (article_id := self._owner.get(key)))
        return Duplicate(linked[0], "URL already stored") if linked else None

    def claim(self, article_id: int, keys: Collection[str], source_id: str) -> None:
        """Point every key the article was found under at it, unless it leads to an article already.

        A URL recorded earlier as giving no article (a redirect target, a page
        that was too short then) now leads to this one.
        """
        for key in sorted(keys):
            if key not in self._owner:
                self._new.append({"canonical_url": key, "source_id": source_id, "article_id": article_id})
            elif self._owner[key] is None:
                self._links[article_id].append(key)
            else:
                continue
            self._owner[key] = article_id

    def write(self, session: Session) -> None:
        if self._new:
            session.execute(insert(_known), self._new)
        for article_id, keys in self._links.items():
            for chunk in chunks(keys):
                session.execute(_LINK_KEYS, {"keys": chunk, "article_id": article_id})
        self._new, self._links = [], defaultdict(list)


def remember_urls(session: Session, article_id: int, keys: Collection[str], source_id: str) -> None:
    """Point every URL the article was found under at it, so none of them is fetched again."""
    book = UrlBook(known_urls(session, keys))
    book.claim(article_id, keys, source_id)
    book.write(session)


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
