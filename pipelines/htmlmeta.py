"""What a page declares about itself in its markup, read before extraction touches the tree.

trafilatura reports title, author and publishing date, but not the page's
language declaration, its canonical link or when it was last modified; those
decide deduplication (canonical URL) and lemmatisation (language), so they
are read here from the same parsed tree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement

_MIN_PEREX_CHARS = 60


@dataclass(frozen=True)
class PageMeta:
    language: str | None
    canonical_url: str | None
    og_title: str | None
    h1: str | None
    site_name: str | None
    modified: datetime | None
    #: The page's description when it is also shown as a paragraph: the perex (lead), which
    #: extractors often lose because CMSs put it in a header block outside the article body.
    perex: str | None


def parse_datetime(value: str | None) -> datetime | None:
    """ISO 8601 as pages and htmldate write it; aware, UTC when no offset is given."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _first(tree: HtmlElement, xpath: str) -> str | None:
    for value in tree.xpath(xpath):
        text = " ".join(str(value).split())
        if text:
            return text
    return None


def _meta(tree: HtmlElement, *names: str) -> str | None:
    for name in names:
        value = _first(tree, f'//meta[@property="{name}" or @name="{name}" or @itemprop="{name}"]/@content')
        if value:
            return value
    return None


def _json_ld_objects(tree: HtmlElement) -> Iterator[dict[str, object]]:
    for script in tree.xpath('//script[@type="application/ld+json"]/text()'):
        try:
            data = json.loads(script)
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                if isinstance(item.get("@graph"), list):
                    stack.extend(item["@graph"])


def _modified(tree: HtmlElement) -> datetime | None:
    """Only explicit modification metadata: the newest date anywhere on the page would often be a
    teaser's or the footer's, not the article's."""
    moment = parse_datetime(_meta(tree, "article:modified_time", "og:updated_time", "dateModified"))
    if moment:
        return moment
    for item in _json_ld_objects(tree):
        value = item.get("dateModified")
        if isinstance(value, str) and (moment := parse_datetime(value)):
            return moment
    return None


def _canonical(tree: HtmlElement, url: str) -> str | None:
    for href in (
        _first(tree, '//link[contains(concat(" ", translate(@rel, "CANONICL", "canonicl"), " "), " canonical ")]'
                     "/@href"),
        _meta(tree, "og:url"),
    ):
        if href:
            absolute = urljoin(url, href)
            if urlsplit(absolute).scheme in ("http", "https"):
                return absolute
    return None


def _h1(tree: HtmlElement) -> str | None:
    for heading in tree.iter("h1"):
        text = " ".join("".join(heading.itertext()).split())
        if text:
            return text
    return None


def _perex(tree: HtmlElement) -> str | None:
    description = _meta(tree, "description", "og:description")
    if not description or len(description) < _MIN_PEREX_CHARS:
        return None
    for paragraph in tree.iter("p"):
        if " ".join("".join(paragraph.itertext()).split()) == description:
            return description
    return None


def read_page_meta(tree: HtmlElement, url: str) -> PageMeta:
    language = _first(tree, "/html/@lang") or _meta(tree, "og:locale") or _first(
        tree, '//meta[translate(@http-equiv, "CONTENT-LANGUAGE", "content-language")="content-language"]/@content'
    )
    return PageMeta(
        language=language,
        canonical_url=_canonical(tree, url),
        og_title=_meta(tree, "og:title", "twitter:title"),
        h1=_h1(tree),
        site_name=_meta(tree, "og:site_name", "application-name"),
        modified=_modified(tree),
        perex=_perex(tree),
    )
