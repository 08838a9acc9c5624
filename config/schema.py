"""The shape of everything a user writes in ``config/``.

Pydantic does the validation so that every mistake comes back as a path
(``watchlists/korea.yaml`` → ``any.cs[3].term``) which the loader turns into
a line number. ``extra="forbid"`` everywhere: a typo'd key is an error, never
silently ignored, because an ignored ``min_hit: 3`` would change what alerts.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

LANGUAGES = ("cs", "uk", "en")
LanguageCode = Literal["cs", "uk", "en"]
TermLanguage = Literal["cs", "uk", "en", "any"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> timedelta:
    """Accept ``90``, ``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``: people write intervals by hand."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    raise ValueError("expected a duration such as 90s, 15m, 2h or 1d")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- watchlists


class Term(Strict):
    """One thing to look for.

    Written in YAML either as a plain string or as a mapping with options.
    The string syntax carries the common cases so that analysts rarely need
    the mapping: ``korej*`` is a prefix, ``NATO`` (all capitals) an acronym
    matched case-sensitively as a whole word, ``Jižní Korea`` a phrase, and a
    plain word is matched in every inflected form.
    """

    term: str = Field(min_length=1)
    lang: TermLanguage = "any"
    case: bool | None = Field(
        default=None,
        description=(
            "Case-sensitive. For an ALL-CAPS acronym (the default for those) the whole word must be in "
            "capitals; for another word only its first letter's case must be as written (Soul, not soul)."
        ),
    )
    inflect: bool = Field(
        default=True,
        description="Also match inflected forms (lemma-aware). False = exact form only.",
    )
    weight: float = Field(default=1.0, gt=0)

    @field_validator("term")
    @classmethod
    def _no_inner_star(cls, value: str) -> str:
        for word in value.split():
            if "*" in word[:-1]:
                raise ValueError("'*' is allowed only at the end of a word (a prefix), e.g. korej*")
        if not value.strip():
            raise ValueError("term is empty")
        return value.strip()


def _term_from_string(value: object) -> object:
    if isinstance(value, str):
        return {"term": value}
    return value


TermSpec = Annotated[Term, BeforeValidator(_term_from_string)]


def _terms_by_language(value: object) -> object:
    """A term list may be flat (every language) or grouped ``cs: [...]``, ``uk: [...]``."""
    if value is None:
        return []
    if isinstance(value, dict):
        grouped: list[object] = []
        for lang, items in value.items():
            if lang not in (*LANGUAGES, "any"):
                raise ValueError(f"unknown language group '{lang}' (use cs, uk, en or any)")
            for item in items or []:
                item = _term_from_string(item)
                if isinstance(item, dict) and "lang" not in item:
                    item = {**item, "lang": lang}
                grouped.append(item)
        return grouped
    return value


TermList = Annotated[list[TermSpec], BeforeValidator(_terms_by_language)]


def _groups(value: object) -> object:
    if value is None:
        return []
    return [_terms_by_language(group) for group in value] if isinstance(value, list) else value


class AlertPolicy(Strict):
    channels: list[str] = Field(default_factory=list)
    min_hits: float = Field(
        default=1, gt=0, description="Minimum weighted hits to alert: a title hit counts weights.title × term weight."
    )
    min_terms: int = Field(default=1, ge=1, description="Minimum number of distinct terms hit.")


class Weights(Strict):
    title: float = Field(default=3.0, gt=0, description="A hit in the title counts this many times.")
    text: float = Field(default=1.0, gt=0)


class Watchlist(Strict):
    """A named set of terms; an article that satisfies it raises one alert per channel."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = ""
    enabled: bool = True
    languages: list[LanguageCode] = Field(default_factory=lambda: list(LANGUAGES))
    alert: AlertPolicy = Field(default_factory=AlertPolicy)
    weights: Weights = Field(default_factory=Weights)
    any: TermList = Field(default_factory=list, description="Strong terms: each mention is a hit.")
    weak: TermList = Field(default_factory=list, description="Count only when a strong term hit too.")
    all: Annotated[list[TermList], BeforeValidator(_groups)] = Field(
        default_factory=list, description="Each group must appear somewhere (context)."
    )
    none: TermList = Field(default_factory=list, description="Any mention vetoes the article.")
    ignore: TermList = Field(default_factory=list, description="Spans that never count as hits.")

    @model_validator(mode="after")
    def _has_terms(self) -> Watchlist:
        if not self.any:
            raise ValueError("a watchlist needs at least one term under 'any'")
        return self


# --------------------------------------------------------------------------- sources


class Source(Strict):
    """A site Hlídka revisits: where to start, which links are articles, how often."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = ""
    enabled: bool = True
    kind: Literal["html", "rss"] = "html"
    start_urls: list[str] = Field(min_length=1)
    article_links: list[str] = Field(
        default_factory=list,
        description="Regular expressions; a link whose URL matches one is an article.",
    )
    link_scope: str | None = Field(
        default=None, description="CSS selector limiting where article links are looked for."
    )
    next_page: str | None = Field(
        default=None,
        description="CSS selector of the 'next page' link on a listing (html sources).",
    )
    max_pages: int = Field(default=3, ge=1, le=100, description="Listing pages followed per run.")
    max_articles: int = Field(default=200, ge=1, description="Articles fetched per run, at most.")
    interval: Duration = timedelta(minutes=30)
    language: LanguageCode | None = None
    alias_hosts: list[str] = Field(
        default_factory=list, description="Other host names that serve the same site."
    )
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("article_links")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from exc
        return patterns

    @field_validator("start_urls")
    @classmethod
    def _http(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"not an http(s) URL: {url!r}")
        return urls


class SourcesFile(Strict):
    sources: list[Source]

    @model_validator(mode="after")
    def _unique_ids(self) -> SourcesFile:
        seen: set[str] = set()
        for source in self.sources:
            if source.id in seen:
                raise ValueError(f"source id '{source.id}' is used twice")
            seen.add(source.id)
        return self


# --------------------------------------------------------------------------- settings


class Channel(Strict):
    """Where alerts go: any apprise URL; ``${ENV}`` placeholders keep secrets out of the file."""

    url: str = Field(min_length=3)
    description: str = ""


class CrawlSettings(Strict):
    user_agent: str = "Hlidka/0.1 (+https://github.com/hlidka/hlidka; news monitoring)"
    contact_url: str | None = None
    download_timeout: Duration = timedelta(seconds=30)
    max_response_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    concurrent_requests_per_domain: int = Field(default=2, ge=1, le=32)
    download_delay: Duration = timedelta(seconds=1)
    obey_robots_txt: bool = True
    crawl_timeout: Duration = timedelta(minutes=20)


class AlertSettings(Strict):
    dispatch_interval: Duration = timedelta(seconds=30)
    retry_base: Duration = timedelta(seconds=30)
    retry_max: Duration = timedelta(hours=1)
    give_up_after: Duration = timedelta(days=2)


class Settings(Strict):
    database: str = "sqlite:///data/hlidka.db"
    channels: dict[str, Channel] = Field(default_factory=dict)
    default_channels: list[str] = Field(
        default_factory=list, description="Channels for watchlists that name none."
    )
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
