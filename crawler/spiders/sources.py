"""One generic spider for every source in ``sources.yaml``.

A run reads the source's listing pages (HTML with pagination, or an RSS/Atom
feed), keeps the links that look like articles, asks the seen-URL store which
of them are new, and downloads only those. A listing page whose article links
are all known ends pagination: everything older was seen on an earlier run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse
from sqlalchemy import select

from config import Config, Source
from crawler.items import ArticlePage
from crawler.urls import alias_map, canonical_url, host_of
from hlidka.db import KnownUrl, shared_database, utcnow


class SourceSpider(scrapy.Spider):
    """Crawls one configured source; started with ``-a source=<id>`` or by :mod:`crawler.run`."""

    name = "source"

    def __init__(self, source: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.source_id = source

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        config: Config = crawler.settings["HLIDKA_CONFIG"]
        spider.source = config.source(spider.source_id)
        spider.database = shared_database(crawler.settings["HLIDKA_DATABASE_URL"])
        spider.aliases = alias_map(spider.source.start_urls, spider.source.alias_hosts)
        spider.allowed_domains = sorted({host_of(u) for u in spider.source.start_urls} | set(spider.aliases))
        spider.article_patterns = [re.compile(p) for p in spider.source.article_links]
        spider.scheduled: set[str] = set()
        spider.listing_pages = 0
        if spider.source.headers:
            spider.custom_headers = dict(spider.source.headers)
        return spider

    source: Source
    custom_headers: dict[str, str] = {}

    async def start(self) -> Any:
        for url in self.source.start_urls:
            yield self._listing_request(url, page=1)

    def _listing_request(self, url: str, page: int) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.parse_listing,
            headers=self.custom_headers or None,
            cb_kwargs={"page": page},
            meta={"hlidka_role": "listing"},
            dont_filter=True,
        )

    # ------------------------------------------------------------------ listings

    def parse_listing(self, response: Response, page: int) -> Iterator[scrapy.Request]:
        self.crawler.stats.inc_value("hlidka/listing_pages")
        if not isinstance(response, TextResponse):
            self.logger.warning("listing %s is not text (%s)", response.url, response.headers.get("Content-Type"))
            return
        links = self._article_links(response)
        self.crawler.stats.inc_value("hlidka/article_links", len(links))
        new_links = self._unknown(links)
        self.crawler.stats.inc_value("hlidka/articles_found", len(new_links))
        for canonical, url in new_links.items():
            if len(self.scheduled) >= self.source.max_articles:
                self.logger.info("reached max_articles=%d for %s", self.source.max_articles, self.source_id)
                return
            self.scheduled.add(canonical)
            yield scrapy.Request(
                url,
                callback=self.parse_article,
                headers=self.custom_headers or None,
                meta={"hlidka_role": "article", "hlidka_canonical": canonical},
            )
        if self.source.kind == "html" and self.source.next_page and page < self.source.max_pages:
            if links and not new_links:
                self.logger.info("listing page %d of %s holds only known articles: stop paging", page, self.source_id)
                return
            href = response.css(self.source.next_page).attrib.get("href")
            if href:
                yield self._listing_request(response.urljoin(href), page=page + 1)

    def _article_links(self, response: TextResponse) -> dict[str, str]:
        """Canonical URL → absolute URL of every article link on a listing or feed, in page order."""
        if self.source.kind == "rss":
            selector = scrapy.Selector(text=response.text, type="xml")
            hrefs = selector.xpath("//*[local-name()='item']/*[local-name()='link']/text()").getall()
            hrefs += selector.xpath("//*[local-name()='entry']/*[local-name()='link']/@href").getall()
        else:
            scope = response.css(self.source.link_scope) if self.source.link_scope else response
            hrefs = scope.css("a::attr(href)").getall()
        links: dict[str, str] = {}
        for href in hrefs:
            url = response.urljoin(href.strip())
            if not url.startswith(("http://", "https://")) or host_of(url) not in self.allowed_domains:
                continue
            if self.article_patterns and not any(p.search(url) for p in self.article_patterns):
                continue
            links.setdefault(canonical_url(url, self.aliases), url)
        return links

    def _unknown(self, links: dict[str, str]) -> dict[str, str]:
        """Drop links already stored, or already scheduled in this run."""
        if not links:
            return {}
        with self.database.session() as session:
            known = set(session.scalars(select(KnownUrl.canonical_url).where(KnownUrl.canonical_url.in_(list(links)))))
        return {c: u for c, u in links.items() if c not in known and c not in self.scheduled}

    # ------------------------------------------------------------------ articles

    def parse_article(self, response: Response) -> Iterator[ArticlePage]:
        if not isinstance(response, TextResponse):
            self.logger.warning("article %s is not text (%s): skipped", response.url, response.headers.get("Content-Type"))
            return
        fetched_key = canonical_url(response.url, self.aliases)
        listing_key = response.meta.get("hlidka_canonical") or fetched_key
        yield ArticlePage(
            source_id=self.source_id,
            url=response.url,
            canonical_url=listing_key,
            url_keys={listing_key, fetched_key},
            html=response.text,
            language_hint=self.source.language,
            fetched_at=utcnow(),
            aliases=self.aliases,
        )
