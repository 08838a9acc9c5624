"""The fixture web's content model: sites, articles, teasers, and the URL layout of each site.

Everything is frozen so that a page rendered in one server thread can never
see an article half-changed by ``publish`` in another; publishing replaces
whole tuples instead of mutating them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

RelatedPlacement = Literal["inside", "after", "aside"]
CrawlKind = Literal["html", "rss"]

_SUMMARY_CHARS = 220
# Ukrainian slugs on real portals are transliterated (KMU 2010 style, simplified to ASCII).
_UK_TRANSLIT = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie", "ж": "zh",
    "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n",
    "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu", "я": "ia", "'": "", "’": "",
})
_REGEX_SPECIALS = re.compile(r"([.^$*+?()\[\]{}|\\])")


def slugify(title: str) -> str:
    """A URL slug like the ones news CMSs generate, so published articles look like the rest."""
    text = title.lower().translate(_UK_TRANSLIT)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:80].rstrip("-") or "clanek"


@dataclass(frozen=True)
class Teaser:
    """A link to another story, as shown in related-news blocks.

    ``href`` is a path on the fixture server; ``None`` means an archived story
    that the fixture does not serve (a realistic dead end for crawlers that
    wander outside their link scope).
    """

    title: str
    summary: str
    href: str | None = None


@dataclass(frozen=True)
class Article:
    """One news article. ``id`` and ``slug`` may be left out when publishing; the site assigns them."""

    title: str
    paragraphs: tuple[str, ...]
    published: datetime
    slug: str = ""
    id: int | None = None
    lead: str | None = None
    author: str | None = None
    modified: datetime | None = None
    #: Language of this page when it differs from the site's (an English piece on a Ukrainian portal).
    language: str | None = None
    #: Teasers specific to this article, shown before the site's usual related links.
    related: tuple[Teaser, ...] = ()
    #: The seeds/originals file prefix ("000") the text comes from; None for written fillers.
    seed: str | None = None

    def __post_init__(self) -> None:
        for name in ("published", "modified"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"article {self.title!r}: {name} needs a time zone (pages state UTC offsets)")
        if not self.paragraphs:
            raise ValueError(f"article {self.title!r} has no paragraphs")

    @property
    def summary(self) -> str:
        """The perex shown in listings and feeds: the lead, or the first paragraph shortened."""
        if self.lead:
            return self.lead
        first = self.paragraphs[0]
        if len(first) <= _SUMMARY_CHARS:
            return first
        return first[:_SUMMARY_CHARS].rsplit(" ", 1)[0] + "…"

    @property
    def last_change(self) -> datetime:
        return self.modified or self.published


def article_from_mapping(data: Mapping[str, Any]) -> Article:
    """An :class:`Article` from plain data, the way tests and demos write a breaking story.

    ``text`` may stand in for ``paragraphs`` (blank lines separate paragraphs) and
    ``published`` defaults to now, so ``{"title": …, "text": …}`` is enough.
    """
    fields = dict(data)
    if "text" in fields:
        text = fields.pop("text")
        fields["paragraphs"] = tuple(p.strip() for p in re.split(r"\n\s*\n", text) if p.strip())
    fields["paragraphs"] = tuple(fields.get("paragraphs", ()))
    fields.setdefault("published", datetime.now(timezone.utc).replace(microsecond=0))
    return Article(**fields)


@dataclass(frozen=True)
class Labels:
    """The words of a site's chrome, in the site's language."""

    home: str
    section: str
    related: str
    next: str
    previous: str
    page: str
    author: str
    skip: str
    menu: str
    breadcrumbs: str
    topics: str
    cookies: str
    cookies_ok: str
    #: ``str.format`` template with ``d`` = the datetime, e.g. ``"{d.day}. {d.month}. {d.year}"``.
    date: str


@dataclass(frozen=True)
class Site:
    """One news site served under ``/<id>/``; paths below are relative to that prefix."""

    id: str
    name: str
    short_name: str
    language: str
    locale: str
    encoding: str
    listing: str
    page: str
    article: str
    per_page: int
    related: RelatedPlacement
    labels: Labels
    nav: tuple[tuple[str, str], ...]
    topics: tuple[tuple[str, str], ...]
    footer: tuple[str, ...]
    teasers: tuple[Teaser, ...] = ()
    #: The content the site starts with, newest first.
    articles: tuple[Article, ...] = field(default=())
    feed: str | None = None
    #: How a crawler source follows the site: its HTML listing or its RSS feed.
    crawl: CrawlKind = "html"
    #: CSS class of the element around the article text; CMSs differ, and extractors key on it.
    body_class: str = "article-body"

    @property
    def prefix(self) -> str:
        return f"/{self.id}/"

    def path(self, relative: str) -> str:
        return self.prefix + relative

    def listing_path(self, page: int = 1) -> str:
        return self.path(self.listing if page == 1 else self.page.format(n=page))

    def article_path(self, article: Article) -> str:
        return self.path(self.article.format(slug=article.slug, id=article.id))

    @property
    def feed_path(self) -> str | None:
        return self.path(self.feed) if self.feed else None

    def archive_path(self, teaser: Teaser) -> str:
        return teaser.href or self.path(f"archiv/{slugify(teaser.title)}")

    def article_link_regex(self) -> str:
        """The regex a crawler ``Source`` uses to recognise this site's article URLs (any host).

        Derived from the URL template so that the two can never disagree.
        """
        literal = _REGEX_SPECIALS.sub(r"\\\1", self.path(self.article))
        pattern = literal.replace(r"\{slug\}", "[a-z0-9-]+").replace(r"\{id\}", "[0-9]+")
        return rf"^https?://[^/]+{pattern}$"
