"""Item pipeline: drop what is already stored, under any of its URLs or as the same text.

This is the early, cheap check (before matching); the store repeats it under
the story lock, because two crawls may bring the same article at once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from scrapy.exceptions import DropItem
from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.items import ArticlePage
from crawler.urls import canonical_url, host_of
from hlidka.db import Article, KnownUrl, shared_database, utcnow
from pipelines.stories import prune_index

_WORD = re.compile(r"\w+")


def content_hash(title: str, text: str) -> str:
    """Equal for texts that differ only in case, spacing or punctuation (a re-published copy).

    The title counts: pages that share a text but not a headline are usually
    different articles behind the same paywall or consent text, and a copy
    that was only re-headlined is caught as a near duplicate instead.
    """
    words = _WORD.findall(f"{title}\n{text}".casefold())
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Duplicate:
    article_id: int
    reason: str


def find_duplicate(session: Session, keys: Collection[str], text_hash: str) -> Duplicate | None:
    """The stored article this page already is: one of its URLs is known, or its text is."""
    for known in session.scalars(select(KnownUrl).where(KnownUrl.canonical_url.in_(list(keys)))):
        if known.article_id:
            return Duplicate(known.article_id, "URL already stored")
    article_id = session.scalar(select(Article.id).where(Article.content_hash == text_hash).order_by(Article.id).limit(1))
    return Duplicate(article_id, "same text as a stored article") if article_id else None


def remember_urls(session: Session, article_id: int, keys: Collection[str], source_id: str) -> None:
    """Point every URL the article was found under at it, so none of them is fetched again.

    A URL recorded earlier as giving no article (a redirect target, a page that
    was too short then) now leads to this one.
    """
    known = {k.canonical_url: k for k in session.scalars(select(KnownUrl).where(KnownUrl.canonical_url.in_(list(keys))))}
    for key in sorted(keys):
        if key not in known:
            session.add(KnownUrl(canonical_url=key, source_id=source_id, article_id=article_id))
        elif known[key].article_id is None:
            known[key].article_id, known[key].reason = article_id, None


class DedupePipeline:
    """Settles the article's canonical URL and drops exact duplicates.

    The page's own ``<link rel=canonical>`` wins over the URL it was reached
    by, when it points at the same site: that is how the MoD's article on two
    hosts, or a listing link with tracking parameters, becomes one key. A known
    duplicate still teaches the store its new URL, so it is not fetched again.
    A re-check of a stored article (``recheck_of``) passes: the store decides
    whether its text changed.
    """

    def __init__(self, crawler: Any):
        self.crawler = crawler
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
        item.content_hash = content_hash(extracted.title, extracted.text)
        if item.recheck_of is not None:
            return item
        keys = item.url_keys | {item.canonical_url}
        with self.database.session() as session, session.begin():
            duplicate = find_duplicate(session, keys, item.content_hash)
            if duplicate is None:
                return item
            remember_urls(session, duplicate.article_id, keys, item.source_id)
        self.crawler.stats.inc_value("hlidka/articles_duplicate")
        raise DropItem(f"{item.url}: {duplicate.reason} (article {duplicate.article_id})")

    @staticmethod
    def _same_site(item: ArticlePage, url: str) -> bool:
        host = host_of(url)
        primaries = {host_of(origin) for origin in item.aliases.values()}
        return host == host_of(item.url) or host in item.aliases or host in primaries
