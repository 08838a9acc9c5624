"""One generic spider for every source in ``sources.yaml``.

A run reads the source's listings — HTML pages with pagination, an RSS/Atom
feed, or XML sitemaps (indexes and news sitemaps) — keeps the links that look
like articles or PDF documents, asks the seen-URL store which of them are new,
and downloads only those. Listings are revalidated (a 304 costs no body and
ends that listing's work), and a listing page whose article links are all
known ends pagination: everything older was seen on an earlier run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import scrapy
from lxml import etree
from scrapy import signals
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.utils.gz import gunzip
from sqlalchemy import select
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

from config import Config, Source
from crawler.items import ArticlePage
from crawler.middlewares import REVALIDATE, ROLE, VALIDATORS, OffsiteRedirect, header_charset
from crawler.revalidation import Chain, Validators
from crawler.urls import alias_map, canonical_url, host_of
from hlidka.db import Article, KnownUrl, shared_database, utcnow
from hlidka.db.chunks import chunks
from pipelines.store import record_rejected_url

_SITEMAP_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, recover=True)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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
        source = spider.source = config.source(spider.source_id)
        spider.database = shared_database(crawler.settings["HLIDKA_DATABASE_URL"])
        spider.aliases = alias_map(source.start_urls, source.alias_hosts)
        spider.allowed_domains = sorted({host_of(u) for u in source.start_urls} | set(spider.aliases))
        spider.link_patterns = [re.compile(p) for p in (*source.article_links, *source.pdf_links)]
        spider.follow_patterns = [re.compile(p) for p in source.sitemap_follow]
        spider.scheduled = set()
        spider.listings_requested = 0
        # Per-source settings, applied before the crawler freezes them (Scrapy builds the
        # downloader middlewares after the spider).
        crawler.settings.set("HLIDKA_MAX_REQUESTS", source.max_requests, priority="spider")
        if source.headers:
            headers = {**crawler.settings.getdict("DEFAULT_REQUEST_HEADERS"), **source.headers}
            crawler.settings.set("DEFAULT_REQUEST_HEADERS", headers, priority="spider")
        crawler.signals.connect(spider.item_failed, signal=signals.item_error)
        return spider

    source: Source
    aliases: dict[str, str]
    link_patterns: list[re.Pattern[str]]
    follow_patterns: list[re.Pattern[str]]
    scheduled: set[str]
    listings_requested: int

    async def start(self) -> Any:
        for url in self.source.start_urls:
            yield self._listing_request(url, Chain(), page=1)
        if self.source.recheck > timedelta(0):
            for article_id, url in self._recent_articles():
                yield self._article_request(url, canonical_url(url, self.aliases), Chain(), recheck_of=article_id)

    # ------------------------------------------------------------------ requests

    def _request(self, url: str, callback: Any, chain: Chain | None, role: str, **meta: Any) -> scrapy.Request:
        """A request in this source's download slot: alias hosts are one server, one politeness budget."""
        host = host_of(url)
        slot = host_of(self.aliases[host]) if host in self.aliases else host
        meta["download_slot"] = slot
        meta[ROLE] = role
        if chain is not None:
            meta[REVALIDATE] = chain
        return scrapy.Request(url, callback=callback, errback=self.request_failed, meta=meta)

    def _listing_request(self, url: str, chain: Chain, page: int) -> scrapy.Request:
        self.listings_requested += 1
        return self._request(url, self.parse_listing, chain, "listing", hlidka_page=page)

    def _article_request(self, url: str, canonical: str, chain: Chain, recheck_of: int | None = None) -> scrapy.Request:
        self.scheduled.add(canonical)
        # Articles are revalidated only when they will be re-checked later: otherwise their
        # validators would fill the table for nothing.
        revalidate = chain if self.source.recheck > timedelta(0) else None
        request = self._request(url, self.parse_article, revalidate, "article",
                                hlidka_canonical=canonical, hlidka_recheck_of=recheck_of)
        request.meta["hlidka_listing_chain"] = chain
        return request

    # ------------------------------------------------------------------ listings

    def parse_listing(self, response: Response) -> Iterator[scrapy.Request]:
        self.crawler.stats.inc_value("hlidka/listing_pages")
        chain: Chain = response.meta[REVALIDATE]
        page: int = response.meta["hlidka_page"]
        if response.status == 304:
            # Unchanged since the last complete run. A sitemap index still has its sitemaps
            # revalidated: news sitemaps change without the index saying so.
            stored: Validators = response.meta[VALIDATORS]
            yield from self._follow_sitemaps(stored.follow or [], chain)
            return
        if self.source.kind == "sitemap":
            yield from self._parse_sitemap(response, chain)
            return
        if not isinstance(response, TextResponse):
            self.logger.warning("listing %s is not text (%s)", response.url, response.headers.get("Content-Type"))
            chain.failed = True
            return
        links = self._feed_links(response) if self.source.kind == "rss" else self._page_links(response)
        new_links = yield from self._schedule(links, chain)
        if self.source.kind == "html" and self.source.next_page and page < self.source.max_pages:
            if links and not new_links:
                self.logger.info("listing page %d of %s holds only known articles: stop paging", page, self.source_id)
                return
            href = response.css(self.source.next_page).attrib.get("href")
            if href:
                yield self._listing_request(response.urljoin(href), chain, page=page + 1)

    def _page_links(self, response: TextResponse) -> dict[str, str]:
        if self.source.link_scope_xpath:
            scope: Any = response.xpath(self.source.link_scope_xpath)
        elif self.source.link_scope:
            scope = response.css(self.source.link_scope)
        else:
            scope = response
        return self._article_links(response.urljoin(href) for href in scope.css("a::attr(href)").getall())

    def _feed_links(self, response: TextResponse) -> dict[str, str]:
        selector = scrapy.Selector(text=response.text, type="xml")
        hrefs = selector.xpath("//*[local-name()='item']/*[local-name()='link']/text()").getall()
        hrefs += selector.xpath("//*[local-name()='entry']/*[local-name()='link']"
                                "[not(@rel) or @rel='alternate']/@href").getall()
        return self._article_links(response.urljoin(href.strip()) for href in hrefs)

    def _parse_sitemap(self, response: Response, chain: Chain) -> Iterator[scrapy.Request]:
        body = response.body
        if body[:2] == b"\x1f\x8b":  # sitemap.xml.gz served as a file, not Content-Encoding
            body = gunzip(body, max_size=self.crawler.settings.getint("DOWNLOAD_MAXSIZE"))
        try:
            root = etree.fromstring(body, _SITEMAP_PARSER)
        except etree.XMLSyntaxError:
            root = None
        if root is None:
            self.logger.warning("sitemap %s is not XML", response.url)
            chain.failed = True
            return
        entries = sorted(_sitemap_entries(root), key=lambda e: e[1], reverse=True)  # newest first
        if etree.QName(root).localname == "sitemapindex":
            children = [loc for loc, _ in entries if not self.follow_patterns or any(p.search(loc) for p in self.follow_patterns)]
            children = [c for c in children if host_of(c) in self.allowed_domains]
            validators: Validators | None = response.meta.get(VALIDATORS)
            if validators is not None:
                validators.follow = children
            yield from self._follow_sitemaps(children, chain)
            return
        yield from self._schedule(self._article_links(loc for loc, _ in entries), chain)

    def _follow_sitemaps(self, urls: Iterable[str], chain: Chain) -> Iterator[scrapy.Request]:
        for url in urls:
            if self.listings_requested >= self.source.max_pages:
                self.logger.info("read max_pages=%d sitemaps of %s", self.source.max_pages, self.source_id)
                chain.failed = True  # sitemaps left unread: the index must be read again next time
                return
            yield self._listing_request(url, chain, page=self.listings_requested + 1)

    def _article_links(self, urls: Iterable[str]) -> dict[str, str]:
        """Canonical URL → absolute URL of every on-site article or document link, in order."""
        links: dict[str, str] = {}
        for url in urls:
            if not url.startswith(("http://", "https://")) or host_of(url) not in self.allowed_domains:
                continue
            canonical = canonical_url(url, self.aliases)
            if self.link_patterns and not any(p.search(url) or p.search(canonical) for p in self.link_patterns):
                continue
            links.setdefault(canonical, url)
        return links

    def _schedule(self, links: dict[str, str], chain: Chain) -> Iterator[scrapy.Request]:  # type: ignore[misc]
        """Request the links not seen before; returns (via ``yield from``) the new ones."""
        self.crawler.stats.inc_value("hlidka/article_links", len(links))
        new_links = self._unknown(links)
        self.crawler.stats.inc_value("hlidka/articles_found", len(new_links))
        for canonical, url in new_links.items():
            if len(self.scheduled) >= self.source.max_articles:
                self.logger.info("reached max_articles=%d for %s", self.source.max_articles, self.source_id)
                chain.failed = True  # links left for the next run: do not let a 304 hide them
                break
            yield self._article_request(url, canonical, chain)
        return new_links

    def _unknown(self, links: dict[str, str]) -> dict[str, str]:
        """Drop links already stored, or already scheduled in this run."""
        fresh = {c: u for c, u in links.items() if c not in self.scheduled}
        if not fresh:
            return {}
        known: set[str] = set()
        with self.database.session() as session:
            for chunk in chunks(fresh):
                known.update(session.scalars(select(KnownUrl.canonical_url).where(KnownUrl.canonical_url.in_(chunk))))
        return {c: u for c, u in fresh.items() if c not in known}

    def _recent_articles(self) -> list[tuple[int, str]]:
        since = utcnow() - self.source.recheck
        with self.database.session() as session:
            rows = session.execute(
                select(Article.id, Article.canonical_url)
                .where(Article.source_id == self.source_id, Article.fetched_at >= since)
                .order_by(Article.fetched_at.desc())
                .limit(self.source.max_articles)
            ).all()
        return [(row.id, row.canonical_url) for row in rows]

    # ------------------------------------------------------------------ articles

    def parse_article(self, response: Response) -> Iterator[ArticlePage]:
        if response.status == 304:
            self.crawler.stats.inc_value("hlidka/recheck_unchanged")
            return
        fetched_key = canonical_url(response.url, self.aliases)
        listing_key = response.meta.get("hlidka_canonical") or fetched_key
        recheck_of = response.meta.get("hlidka_recheck_of")
        if recheck_of is not None:
            self.crawler.stats.inc_value("hlidka/recheck_changed")
        page = dict(source_id=self.source_id, url=response.url, canonical_url=listing_key,
                    url_keys={listing_key, fetched_key}, language_hint=self.source.language,
                    fetched_at=utcnow(), aliases=self.aliases, recheck_of=recheck_of)
        if _is_pdf(response):
            yield ArticlePage(html=b"", pdf=response.body, **page)
        elif isinstance(response, TextResponse):
            yield ArticlePage(html=response.body, encoding=response.encoding, header_charset=header_charset(response),
                              **page)
        else:
            content_type = (response.headers.get(b"Content-Type") or b"?").decode("latin-1")
            record_rejected_url(self.database, self.source_id, listing_key, f"neither HTML nor PDF ({content_type})")

    # ------------------------------------------------------------------ failures

    def request_failed(self, failure: Failure) -> None:
        """A download that gave nothing: settle what will never work, leave the rest for the next run."""
        request = failure.request  # type: ignore[attr-defined]
        chain: Chain | None = request.meta.get("hlidka_listing_chain") or request.meta.get(REVALIDATE)
        canonical = request.meta.get("hlidka_canonical")
        reason = self._permanent_failure(failure, request) if canonical else None
        if reason is not None:
            record_rejected_url(self.database, self.source_id, canonical, reason)
            return
        if chain is not None:
            chain.failed = True
        self.crawler.stats.inc_value("hlidka/requests_failed")
        self.logger.warning("%s %s failed: %s", request.meta.get(ROLE, "request"), request.url,
                            failure.getErrorMessage() or failure.type.__name__)

    def _permanent_failure(self, failure: Failure, request: scrapy.Request) -> str | None:
        """Why an article can never be fetched as it is linked, or None when a later run may succeed."""
        if failure.check(DownloadCancelledError, CancelledError):
            limit = self.crawler.settings.getint("DOWNLOAD_MAXSIZE")
            return f"response larger than max_response_bytes ({limit} bytes)"
        if failure.check(OffsiteRedirect):
            return failure.getErrorMessage()
        if type(failure.value) is IgnoreRequest:  # robots.txt, a redirect loop; not a budget or an HTTP error
            return f"not fetched: {failure.getErrorMessage()}"
        return None

    def item_failed(self, response: Response | None) -> None:
        """A pipeline error (not a drop): the article is not stored, so its listing must be read again."""
        chain: Chain | None = response.meta.get("hlidka_listing_chain") if response is not None else None
        if chain is not None:
            chain.failed = True


def _is_pdf(response: Response) -> bool:
    content_type = (response.headers.get(b"Content-Type") or b"").lower()
    return content_type.startswith(b"application/pdf") or response.body[:5] == b"%PDF-"


def _sitemap_entries(root: Any) -> Iterator[tuple[str, datetime]]:
    """(loc, date) of each ``<url>`` or ``<sitemap>``: the news publication date, else lastmod."""
    for element in root:
        if not isinstance(element.tag, str):
            continue
        loc = date = None
        for child in element.iter():
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == "loc" and loc is None and child.text:
                loc = child.text.strip()
            elif name == "publication_date" and child.text:
                date = child.text.strip()
            elif name == "lastmod" and child.text and date is None:
                date = child.text.strip()
        if loc:
            yield loc, _parse_date(date)


def _parse_date(value: str | None) -> datetime:
    if not value:
        return _EPOCH
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return _EPOCH
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
