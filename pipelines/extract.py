"""Item pipeline: HTML → article text, metadata and text signature, in worker processes."""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import DropItem

from crawler.items import ArticlePage
from hlidka.db import shared_database
from pipelines.pagetext import page_text
from pipelines.store import record_rejected_url
from pipelines.workers import extraction_pool


class ExtractPipeline:
    """Runs :func:`~pipelines.pagetext.page_text` in the shared worker pool and drops pages with no article.

    A rejected page is recorded with its reason in the seen-URL store, so it is
    neither silently lost nor downloaded again on every revisit.
    """

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.min_chars = crawler.settings.getint("HLIDKA_MIN_ARTICLE_CHARS", 200)
        self.workers = crawler.settings.getint("HLIDKA_EXTRACT_WORKERS", 0) or None
        self.database = shared_database(crawler.settings["HLIDKA_DATABASE_URL"])

    @classmethod
    def from_crawler(cls, crawler: Any) -> ExtractPipeline:
        return cls(crawler)

    async def process_item(self, item: ArticlePage) -> ArticlePage:
        result = await extraction_pool(self.workers).run(page_text, item.html, item.encoding, item.header_charset,
                                                         item.pdf, item.url, language_hint=item.language_hint,
                                                         min_chars=self.min_chars)
        extracted = result.extracted
        if not extracted.ok:
            self.crawler.stats.inc_value("hlidka/articles_rejected")
            record_rejected_url(self.database, item.source_id, item.canonical_url, extracted.reason or "no article")
            raise DropItem(f"{item.url}: {extracted.reason}")
        item.extracted, item.content_hash, item.signature = extracted, result.content_hash, result.signature
        item.html, item.pdf = b"", None  # the text is extracted; do not carry ~100 KB further down the chain
        return item
