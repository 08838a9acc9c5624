"""Request routing and revalidation for the fixture web, independent of any HTTP server.

Kept apart from the socket code so that what a URL returns (and when it answers
304) is decided in one place; the server only moves bytes and keeps the log.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from html import escape
from math import ceil
from urllib.parse import urlsplit

from hlidka.fixtureweb.feed import rss_feed
from hlidka.fixtureweb.http import Response
from hlidka.fixtureweb.lab import Lab
from hlidka.fixtureweb.model import Article, Site, slugify
from hlidka.fixtureweb.render import LINK_SCOPE_CSS, article_page, listing_page, plain_page
from hlidka.fixtureweb.sitemaps import sitemap

__all__ = ["FixtureApp", "Response"]

ROBOTS_TXT = "User-agent: *\nDisallow: /private/\n"
RELATED_FROM_SITE = 3


@dataclass(frozen=True)
class _SiteState:
    site: Site
    articles: tuple[Article, ...]
    #: Last-Modified of the listings and the feed; moves forward on every publish.
    changed: datetime


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)


def _not_modified(headers: Mapping[str, str], etag: str, last_modified: datetime) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since counts only without it."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        return last_modified.replace(microsecond=0) <= since
    return False


def _listing_page(site: Site, pages: int, target: str) -> int | None:
    """Which listing page ``target`` asks for; a stray query (``?utm_source=…``) on the first
    page is ignored unless the site paginates by query string (then ``?page=99`` is a 404)."""
    split = urlsplit(target)
    wanted = split.path + (f"?{split.query}" if split.query else "")
    for page in range(1, pages + 1):
        if wanted == site.listing_path(page):
            return page
    paginates_by_query = urlsplit(site.listing_path(2)).path == site.listing_path()
    if split.path == site.listing_path() and not paginates_by_query:
        return 1
    return None


class FixtureApp:
    """The three sites' current content and what every path on the server returns."""

    def __init__(self, sites: Mapping[str, Site], base_url: str):
        self.base_url = base_url
        self._lock = threading.Lock()
        self._states = {
            site_id: _SiteState(site, site.articles, max(a.last_change for a in site.articles).replace(microsecond=0))
            for site_id, site in sites.items()
        }
        self.lab = Lab(self.sites, base_url, self.articles)
        #: Sites whose listing has a new layout in which the crawler's link scope finds nothing.
        self._redesigned: set[str] = set()

    @property
    def sites(self) -> dict[str, Site]:
        return {site_id: state.site for site_id, state in self._states.items()}

    def articles(self, site_id: str) -> tuple[Article, ...]:
        """The site's articles as its listing shows them, newest first."""
        return self._state(site_id).articles

    def publish(self, site_id: str, article: Article) -> Article:
        """Put ``article`` at the top of the site's listing and feed; returns it with id and slug set."""
        with self._lock:
            state = self._state(site_id)
            ids = {a.id for a in state.articles}
            article_id = article.id if article.id is not None else max((i for i in ids if i is not None), default=0) + 1
            if article_id in ids:
                raise ValueError(f"site {site_id!r} already has an article with id {article_id}")
            article = replace(article, id=article_id, slug=article.slug or slugify(article.title))
            # Strictly later than before, even within the same second: a client revalidating
            # with If-Modified-Since alone must see the change.
            now = datetime.now(timezone.utc).replace(microsecond=0)
            changed = max(now, state.changed + timedelta(seconds=1), article.last_change.replace(microsecond=0))
            self._states[site_id] = replace(state, articles=(article, *state.articles), changed=changed)
        return article

    def redesign(self, site_id: str, redesigned: bool = True) -> None:
        """Give the site's listing a new layout (its article list moves to ``.story-grid``), or the old one back."""
        with self._lock:
            state = self._state(site_id)
            (self._redesigned.add if redesigned else self._redesigned.discard)(site_id)
            self._states[site_id] = replace(state, changed=max(datetime.now(timezone.utc).replace(microsecond=0),
                                                               state.changed + timedelta(seconds=1)))

    def revise(self, site_id: str, article_id: int, **changes: object) -> Article:
        """Change a published article in place (a corrected typo, an added paragraph); ``modified`` moves
        to now unless given, so its page gets a new ETag and Last-Modified."""
        with self._lock:
            state = self._state(site_id)
            old = next((a for a in state.articles if a.id == article_id), None)
            if old is None:
                raise KeyError(f"site {site_id!r} has no article {article_id}")
            now = datetime.now(timezone.utc).replace(microsecond=0)
            modified = max(now, old.last_change.replace(microsecond=0) + timedelta(seconds=1))
            new = replace(old, **{"modified": modified, **changes})  # type: ignore[arg-type]
            articles = tuple(new if a.id == article_id else a for a in state.articles)
            self._states[site_id] = replace(state, articles=articles, changed=max(state.changed + timedelta(seconds=1), modified))
        return new

    def _state(self, site_id: str) -> _SiteState:
        try:
            return self._states[site_id]
        except KeyError:
            raise KeyError(f"unknown fixture site {site_id!r} (known: {', '.join(self._states)})") from None

    # ------------------------------------------------------------------ requests

    def handle(self, target: str, headers: Mapping[str, str]) -> Response:
        """Answer a GET (the server drops the body for HEAD); ``headers`` has lower-case names."""
        path = urlsplit(target).path
        if path == "/robots.txt":
            return Response(200, {"Content-Type": "text/plain; charset=utf-8"}, ROBOTS_TXT.encode())
        if path == "/":
            return self._html(200, plain_page("Hlídka fixture web", self._index()))
        if path.startswith(Lab.PREFIX):
            return self.lab.handle(target, headers) or self._not_found()
        if path.startswith("/private/"):
            return self._html(200, plain_page("Intranet", "<p>Přihlaste se prosím.</p>", "cs"))
        state = self._states.get(path.split("/")[1])
        if state is None:
            return self._not_found()
        return self._site(state, target, headers)

    def _site(self, state: _SiteState, target: str, headers: Mapping[str, str]) -> Response:
        site, articles = state.site, state.articles
        split = urlsplit(target)
        listing = site.listing_path()
        if split.path == site.prefix and listing != site.prefix:
            return Response(301, {"Location": self.base_url + listing})
        entries = [(a, site.article_path(a)) for a in articles]
        pages = max(1, ceil(len(entries) / site.per_page))
        page = _listing_page(site, pages, target)
        if page is not None:
            chunk = entries[(page - 1) * site.per_page: page * site.per_page]
            body = listing_page(site, self.base_url, page, pages, chunk)
            if site.id in self._redesigned:
                body = body.replace(f'class="{LINK_SCOPE_CSS[1:]}"', 'class="story-grid"')
            return self._cacheable(headers, self._encode(site, body), site, state.changed)
        if split.path.startswith(site.prefix) and (xml := sitemap(site, self.base_url, split.path[len(site.prefix):],
                                                                   entries, state.changed)) is not None:
            return self._cacheable(headers, xml.encode("utf-8"), None, state.changed,
                                   content_type="application/xml; charset=utf-8")
        if site.feed_path and split.path == site.feed_path:
            feed = rss_feed(site, self.base_url, entries, state.changed).encode("utf-8")
            return self._cacheable(headers, feed, None, state.changed)
        for index, (article, article_path) in enumerate(entries):
            if split.path == article_path:
                others = (entries[:index] + entries[index + 1:])[:RELATED_FROM_SITE]
                body = article_page(site, article, self.base_url, others)
                return self._cacheable(headers, self._encode(site, body), site, article.last_change)
        return self._not_found()

    def _cacheable(self, headers: Mapping[str, str], body: bytes, site: Site | None,
                   last_modified: datetime, content_type: str | None = None) -> Response:
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        if content_type is None:
            content_type = f"text/html; charset={site.encoding}" if site else "application/rss+xml; charset=utf-8"
        meta = {"ETag": etag, "Last-Modified": _http_date(last_modified), "Cache-Control": "no-cache"}
        if _not_modified(headers, etag, last_modified):
            return Response(304, meta)
        return Response(200, {"Content-Type": content_type, **meta}, body)

    @staticmethod
    def _encode(site: Site, page: str) -> bytes:
        return page.encode(site.encoding, errors="xmlcharrefreplace")

    @staticmethod
    def _html(status: int, page: str) -> Response:
        return Response(status, {"Content-Type": "text/html; charset=utf-8"}, page.encode("utf-8"))

    def _not_found(self) -> Response:
        return self._html(404, plain_page("404 Not Found", "<p>No page here.</p>"))

    def _index(self) -> str:
        items = "".join(
            f'<li><a href="{escape(state.site.prefix)}">{escape(state.site.name)}</a></li>'
            for state in self._states.values()
        )
        return f"<ul>{items}</ul>"
