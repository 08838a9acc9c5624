"""The shape of everything a user writes in ``config/``.

Pydantic does the validation so that every mistake comes back as a path
(``watchlists/korea.yaml`` → ``any.cs[3].term``) which the loader turns into
a line number. ``extra="forbid"`` everywhere: a typo'd key is an error, never
silently ignored, because an ignored ``min_hit: 3`` would change what alerts.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

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
    translit: bool = Field(
        default=False,
        description="A Cyrillic term also matches its Latin romanisation (Ukrainian national system) in any language.",
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


class Delivery(Strict):
    """One message per article as soon as it is found, or a digest of all new ones on a schedule."""

    mode: Literal["immediate", "digest"] = "immediate"
    schedule: str | None = Field(
        default=None,
        description="Digest times in crontab syntax, e.g. '0 7,16 * * 1-5' (07:00 and 16:00 on weekdays).",
    )

    @model_validator(mode="after")
    def _schedule_fits_mode(self) -> Delivery:
        from alerts.schedule import crontab

        if self.mode == "digest" and not self.schedule:
            raise ValueError("mode: digest needs a schedule, e.g. schedule: \"0 7,16 * * 1-5\"")
        if self.mode == "immediate" and self.schedule:
            raise ValueError("a schedule is only used with mode: digest")
        if self.schedule:
            crontab(self.schedule, "UTC")
        return self


class AlertPolicy(Strict):
    channels: list[str] = Field(default_factory=list)
    min_hits: float = Field(
        default=1, gt=0, description="Minimum weighted hits to alert: a title hit counts weights.title × term weight."
    )
    min_terms: int = Field(default=1, ge=1, description="Minimum number of distinct terms hit.")
    delivery: Delivery | None = Field(
        default=None, description="Overrides the delivery of each of its channels for this watchlist."
    )


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
    kind: Literal["html", "rss", "sitemap"] = "html"
    start_urls: list[str] = Field(min_length=1)
    article_links: list[str] = Field(
        default_factory=list,
        description="Regular expressions; a link whose URL matches one is an article.",
    )
    link_scope: str | None = Field(
        default=None, description="CSS selector limiting where article links are looked for."
    )
    link_scope_xpath: str | None = Field(
        default=None, description="XPath alternative to link_scope (give one or the other)."
    )
    pdf_links: list[str] = Field(
        default_factory=list,
        description="Regular expressions; a matching link is a PDF document (press release) whose text is extracted.",
    )
    sitemap_follow: list[str] = Field(
        default_factory=list,
        description="Regular expressions; which sitemaps of a sitemap index to read (default: all).",
    )
    next_page: str | None = Field(
        default=None,
        description="CSS selector of the 'next page' link on a listing (html sources).",
    )
    max_pages: int = Field(default=3, ge=1, le=100, description="Listing pages (or sitemaps) read per run.")
    max_articles: int = Field(default=200, ge=1, description="Articles fetched per run, at most.")
    max_requests: int = Field(
        default=500, ge=1, description="HTTP requests per run, at most: the bound that stops any spider trap."
    )
    recheck: Duration = Field(
        default=timedelta(0),
        description="Re-fetch articles stored within this period (conditionally) to catch updates; 0 = off.",
    )
    interval: Duration = timedelta(minutes=30)
    timezone: str = Field(default="UTC", description="Zone the cron schedule is read in (IANA name).")
    cron: str | None = Field(
        default=None,
        description="Crontab schedule instead of interval, e.g. '*/10 6-22 * * *' (every 10 minutes, 6:00-22:59).",
    )
    jitter: Duration | None = Field(
        default=None,
        description="Random delay of up to this much before each run; default 10% of the interval (at most 1m), 0 for cron.",
    )
    language: LanguageCode | None = None
    alias_hosts: list[str] = Field(
        default_factory=list, description="Other host names that serve the same site."
    )
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("article_links", "pdf_links", "sitemap_follow")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from exc
        return patterns

    @field_validator("link_scope", "next_page")
    @classmethod
    def _css(cls, selector: str | None) -> str | None:
        if selector is not None:
            from parsel.csstranslator import HTMLTranslator  # parsel comes with Scrapy
            try:
                HTMLTranslator().css_to_xpath(selector)
            except Exception as exc:  # cssselect's SelectorError, or ExpressionError for pseudo-elements
                raise ValueError(f"not a valid CSS selector {selector!r}: {exc}") from exc
        return selector

    @field_validator("link_scope_xpath")
    @classmethod
    def _xpath(cls, expression: str | None) -> str | None:
        if expression is not None:
            from lxml.etree import XPath, XPathSyntaxError
            try:
                XPath(expression)
            except XPathSyntaxError as exc:
                raise ValueError(f"not a valid XPath expression {expression!r}: {exc}") from exc
        return expression

    @model_validator(mode="after")
    def _one_scope(self) -> Source:
        if self.link_scope and self.link_scope_xpath:
            raise ValueError("give link_scope (CSS) or link_scope_xpath, not both")
        return self

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        from alerts.schedule import zone

        zone(name)
        return name

    @field_validator("cron")
    @classmethod
    def _crontab(cls, expression: str | None, info: ValidationInfo) -> str | None:
        if expression is not None:
            from alerts.schedule import crontab

            crontab(expression, info.data.get("timezone", "UTC"))
        return expression

    @model_validator(mode="after")
    def _one_schedule(self) -> Source:
        # Both given would leave one silently unused: the analyst would not get the schedule they wrote.
        if self.cron is not None and "interval" in self.model_fields_set:
            raise ValueError("give interval or cron, not both")
        return self

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


def _time_zone(value: str | None) -> str | None:
    from alerts.schedule import zone

    if value is not None:
        zone(value)
    return value


def _clock_time(value: object) -> time:
    from alerts.schedule import parse_clock_time

    return parse_clock_time(value)


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
ClockTime = Annotated[time, BeforeValidator(_clock_time)]


class QuietHours(Strict):
    """A daily span (local time of the channel) without messages; what arrives meanwhile comes after, folded."""

    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are the same time")
        return self


class RateLimit(Strict):
    """At most ``messages`` per ``per``; alerts beyond that are folded into one message, never dropped."""

    messages: int = Field(ge=1)
    per: Duration

    @field_validator("per")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return value


class Channel(Strict):
    """Where alerts go: any apprise URL; ``${ENV}`` placeholders keep secrets out of the file."""

    url: str = Field(min_length=3)
    description: str = ""
    delivery: Delivery = Field(default_factory=Delivery)
    timezone: TimeZoneName | None = Field(
        default=None, description="Zone of the digest schedule and quiet hours; default alerts.timezone."
    )
    quiet_hours: QuietHours | None = None
    rate_limit: RateLimit | None = None


class CrawlSettings(Strict):
    user_agent: str = "Hlidka/0.1 (+https://github.com/hlidka/hlidka; news monitoring)"
    contact_url: str | None = None
    download_timeout: Duration = timedelta(seconds=30)
    max_response_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    concurrent_requests_per_domain: int = Field(default=2, ge=1, le=32)
    download_delay: Duration = timedelta(seconds=1)
    obey_robots_txt: bool = True
    crawl_timeout: Duration = timedelta(minutes=20)
    autothrottle: bool = Field(default=True, description="Adapt the delay to each site's response times.")
    retry_times: int = Field(default=2, ge=0, le=10, description="Retries after a timeout or a 5xx/429 answer.")
    retry_backoff: Duration = Field(
        default=timedelta(seconds=2), description="Wait before the first retry; doubles with each further one."
    )
    max_retry_after: Duration = Field(
        default=timedelta(minutes=2),
        description="Honour a 429/503 Retry-After up to this long; a longer one ends the attempt for this run.",
    )
    resolve: dict[str, str] = Field(
        default_factory=dict,
        description="Host name → IP address, bypassing DNS (like curl --resolve): staging servers, tests.",
    )
    extraction_workers: int = Field(
        default=0, ge=0, le=256, description="Processes extracting article text; 0 = one per CPU."
    )

    @field_validator("resolve")
    @classmethod
    def _addresses(cls, mapping: dict[str, str]) -> dict[str, str]:
        import ipaddress
        for host, address in mapping.items():
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"{host}: {address!r} is not an IP address") from None
        return {host.lower(): address for host, address in mapping.items()}


class AlertSettings(Strict):
    dispatch_interval: Duration = timedelta(seconds=30)
    retry_base: Duration = timedelta(seconds=30)
    retry_max: Duration = timedelta(hours=1)
    give_up_after: Duration = timedelta(days=2)
    timezone: TimeZoneName = Field(default="UTC", description="Default zone of digest schedules and quiet hours.")
    claim_lease: Duration = Field(
        default=timedelta(minutes=5),
        description="How long a dispatcher owns the alerts it is sending; after a crash they are re-sent after this.",
    )
    operations_channels: list[str] = Field(
        default_factory=list, description="Channels told when an alert is given up (operations alerts)."
    )

    @field_validator("claim_lease")
    @classmethod
    def _lease_outlasts_a_send(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=5):
            raise ValueError("must be at least 5s: a send that outlives its claim can be repeated")
        return value


class HealthSettings(Strict):
    """When a source counts as broken: the operations channels are told once, and again when it heals."""

    failed_runs: int = Field(default=3, ge=1, description="Consecutive failed runs.")
    empty_listing_runs: int = Field(
        default=2, ge=1, description="Consecutive runs whose listing gave no article link, after it used to give some."
    )
    empty_extraction_runs: int = Field(
        default=2, ge=1,
        description="Consecutive runs in which every fetched article page gave no text, after texts were extracted before.",
    )


class MetricsSettings(Strict):
    """The Prometheus endpoint of ``hlidka run`` (``/metrics``)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535, description="0 picks a free port (it is logged).")


class ServiceSettings(Strict):
    """How ``hlidka run`` runs its crawls and reports on itself."""

    crawl_processes: int = Field(default=2, ge=1, le=32, description="Crawl processes running at once.")
    batch_size: int = Field(default=8, ge=1, le=100, description="Due sources crawled together in one process, at most.")
    crawl_memory_limit: ByteSize = Field(
        default=ByteSize(2 * 1024**3),
        description="A crawl process whose private memory grows past this is killed and its runs recorded failed.",
    )
    reload_interval: Duration = Field(default=timedelta(seconds=30), description="How often config files are checked for edits.")
    log_format: Literal["text", "json"] = "text"
    health: HealthSettings = Field(default_factory=HealthSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @field_validator("reload_interval")
    @classmethod
    def _at_least_a_second(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value


class DedupeSettings(Strict):
    """When two articles are one story (pipelines.neardup): a later member alerts no watchlist the story alerted."""

    threshold: float = Field(
        default=0.5, ge=0.3, le=1.0,
        description="Estimated Jaccard similarity of the main texts' 4-word shingles at which an article joins "
                    "an earlier one's story. Re-publications measured 0.62-1.0, different articles on one topic "
                    "at most 0.13 (bench/neardup_pairs.py).",
    )
    window: Duration = Field(
        default=timedelta(days=30),
        description="How far back a new article is compared; older articles leave the near-duplicate index.",
    )


class Settings(Strict):
    database: str = "sqlite:///data/hlidka.db"
    channels: dict[str, Channel] = Field(default_factory=dict)
    default_channels: list[str] = Field(
        default_factory=list, description="Channels for watchlists that name none."
    )
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    dedupe: DedupeSettings = Field(default_factory=DedupeSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    @field_validator("alerts")
    @classmethod
    def _operations_channels_exist(cls, alerts: AlertSettings, info: ValidationInfo) -> AlertSettings:
        channels = info.data.get("channels")
        unknown = [name for name in alerts.operations_channels if channels is not None and name not in channels]
        if unknown:
            raise ValueError(f"operations_channels: unknown channel(s) {', '.join(unknown)} "
                             f"(defined: {', '.join(sorted(channels or {})) or 'none'})")
        return alerts
