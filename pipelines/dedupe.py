"""Item pipeline: drop what is already stored, under any of its URLs or as the same text."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from scrapy.exceptions import DropItem
from sqlalchemy import select

from crawler.items import ArticlePage
from crawler.urls import canonical_url, host_of
from hlidka.db import Article, KnownUrl, shared_database

_WORD = re.compile(r"\w+")


def content_hash(title: str, text: str) -> str:
    """Equal for texts that differ only in case, spacing or punctuation (a re-published copy)."""
    words = _WORD.findall(f"{title}\n{text}".casefold())
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()


class DedupePipeline:
    """Settles the article's canonical URL and drops exact duplicates.

    The page's own ``<link rel=canonical>`` wins over the URL it was reached
    by, when it points at the same site: that is how the MoD's article on two
    hosts, or a listing link with tracking parameters, becomes one key. A known
    duplicate still teaches the store its new URL, so it is not fetched again.
    """

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.database = shared_database(crawler.settings["HLIDKA_DATABASE_URL"])

    @classmethod
    def from_crawler(cls, crawler: Any) -> DedupePipeline:
        return cls(crawler)

    def process_item(self, item: ArticlePage) -> ArticlePage:
        extracted = item.extracted
        assert extracted is not None, "DedupePipeline runs after ExtractPipeline"
        declared = extracted.canonical_url
        if declared and self._same_site(item, declared):
            item.canonical_url = canonical_url(declared, item.aliases)
            item.url_keys.add(item.canonical_url)
        item.content_hash = content_hash(extracted.title, extracted.text)
        keys = item.url_keys
        with self.database.session() as session, session.begin():
            known = session.scalars(select(KnownUrl).where(KnownUrl.canonical_url.in_(keys))).all()
            existing_id = next((k.article_id for k in known if k.article_id), None)
            reason = "URL already stored"
            if existing_id is None:
                existing_id = session.scalar(
                    select(Article.id).where(Article.content_hash == item.content_hash).limit(1)
                )
                reason = "same text as a stored article"
            if existing_id is None:
                return item
            seen = {k.canonical_url for k in known}
            for key in keys - seen:
                session.add(KnownUrl(canonical_url=key, source_id=item.source_id, article_id=existing_id))
        self.crawler.stats.inc_value("hlidka/articles_duplicate")
        raise DropItem(f"{item.url}: {reason} (article {existing_id})")

    @staticmethod
    def _same_site(item: ArticlePage, url: str) -> bool:
        host = host_of(url)
        primaries = {host_of(origin) for origin in item.aliases.values()}
        return host == host_of(item.url) or host in item.aliases or host in primaries
