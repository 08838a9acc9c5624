"""XML sitemaps of the fixture sites: an index, a Google News sitemap and an archive.

Shaped like what news CMSs publish: the index names a news sitemap with the
newest stories (with ``news:publication_date`` and ``news:title``) and an
archive sitemap with the rest (``lastmod`` only), each with its own lastmod
so that a crawler can tell which one changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from hlidka.fixtureweb.model import Article, Site

#: Stories in the news sitemap; older ones are in the archive sitemap.
NEWS_ITEMS = 3
INDEX, NEWS, ARCHIVE = "sitemap.xml", "sitemap-news.xml", "sitemap-archive.xml"

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
_SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
_NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"


def _x(text: str) -> str:
    return escape(text, quote=False)


def sitemap(site: Site, base_url: str, name: str, entries: Sequence[tuple[Article, str]], changed: datetime) -> str | None:
    """The sitemap ``name`` of the site (see the module constants), or None for another name."""
    news, archive = entries[:NEWS_ITEMS], entries[NEWS_ITEMS:]
    if name == INDEX:
        parts = [(NEWS, max((a.last_change for a, _ in news), default=changed))]
        if archive:
            parts.append((ARCHIVE, max(a.last_change for a, _ in archive)))
        items = "".join(
            f"<sitemap><loc>{_x(base_url + site.path(part))}</loc><lastmod>{moment.isoformat()}</lastmod></sitemap>\n"
            for part, moment in parts
        )
        return f'{_HEAD}<sitemapindex xmlns="{_SITEMAP_NS}">\n{items}</sitemapindex>\n'
    if name == NEWS:
        items = "".join(
            f"<url><loc>{_x(base_url + path)}</loc><news:news><news:publication>"
            f"<news:name>{_x(site.short_name)}</news:name><news:language>{_x(a.language or site.language)}</news:language>"
            f"</news:publication><news:publication_date>{a.published.isoformat()}</news:publication_date>"
            f"<news:title>{_x(a.title)}</news:title></news:news></url>\n"
            for a, path in news
        )
        return f'{_HEAD}<urlset xmlns="{_SITEMAP_NS}" xmlns:news="{_NEWS_NS}">\n{items}</urlset>\n'
    if name == ARCHIVE:
        items = "".join(
            f"<url><loc>{_x(base_url + path)}</loc><lastmod>{a.last_change.isoformat()}</lastmod></url>\n"
            for a, path in archive
        )
        return f'{_HEAD}<urlset xmlns="{_SITEMAP_NS}">\n{items}</urlset>\n'
    return None
