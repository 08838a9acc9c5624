"""RSS 2.0 feeds of the fixture sites, shaped like the feeds news CMSs publish."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from html import escape

from hlidka.fixtureweb.model import Article, Site

FEED_ITEMS = 20


def _x(text: str) -> str:
    return escape(text, quote=False)


def rss_feed(site: Site, base_url: str, entries: Sequence[tuple[Article, str]], built: datetime) -> str:
    """The newest ``FEED_ITEMS`` of ``entries`` (article, path), newest first.

    Dates are RFC 822 (as RSS requires) and every item has a permalink guid, so
    readers that deduplicate on guid see a republished URL as the same story.
    """
    feed_url = base_url + (site.feed_path or "")
    items = "\n".join(
        f"""<item>
<title>{_x(a.title)}</title>
<link>{_x(base_url + path)}</link>
<guid isPermaLink="true">{_x(base_url + path)}</guid>
<pubDate>{format_datetime(a.published)}</pubDate>
{f"<dc:creator>{_x(a.author)}</dc:creator>" if a.author else ""}
<category>{_x(site.labels.section)}</category>
<description>{_x(a.summary)}</description>
</item>"""
        for a, path in entries[:FEED_ITEMS]
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
<title>{_x(site.name)}</title>
<link>{_x(base_url + site.listing_path())}</link>
<description>{_x(site.name)} – {_x(site.labels.section)}</description>
<language>{_x(site.language)}</language>
<lastBuildDate>{format_datetime(built)}</lastBuildDate>
<atom:link href="{escape(feed_url)}" rel="self" type="application/rss+xml"/>
{items}
</channel>
</rss>
"""
