"""Turn one matched article into the words of an alert, in the three shapes channels need.

Email wants an HTML document, chat wants Markdown, MQTT and other plain
channels want text. All three come from Jinja2 templates, and a user can
replace any of them by putting a file of the same name into
``<config dir>/templates/``: the wording (or the language) of alerts changes
without touching code, and a template that is not overridden keeps working.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import jinja2

DEFAULT_TEMPLATES = Path(__file__).parent / "templates"
MARKDOWN_TEMPLATE = "alert.md.j2"
HTML_TEMPLATE = "alert.html.j2"
TEXT_TEMPLATE = "alert.txt.j2"
#: One message for several alerts: a digest, what quiet hours held back, a burst over the rate limit.
DIGEST_TEMPLATES = ("digest.md.j2", "digest.html.j2", "digest.txt.j2")
#: A notice for whoever runs Hlídka (an alert that was given up).
OPERATIONS_TEMPLATES = ("operations.md.j2", "operations.html.j2", "operations.txt.j2")
#: The title line of messages that are not about one watchlist.
APP_LABEL = "Hlídka"

FoldReason = Literal["digest", "quiet", "burst"]
_REASON_WORDS: dict[str, str] = {
    "digest": "Digest",
    "quiet": "After quiet hours",
    "burst": "Folded burst",
}


@dataclass(frozen=True)
class TermCount:
    term: str
    count: int


@dataclass(frozen=True)
class AlertContext:
    """Everything an alert says, gathered beforehand so that templates never reach into the database."""

    watchlist_id: str
    watchlist_name: str
    #: In the article's own language: analysts read Czech and Ukrainian, and a
    #: translated title would hide the words that matched.
    title: str
    url: str
    source_id: str
    source_name: str
    published: datetime | None
    language: str | None
    score: float
    terms: Sequence[TermCount]
    snippet: str
    #: ``(start, end)`` offsets into ``snippet`` of the words to highlight.
    spans: Sequence[tuple[int, int]]
    #: Where else the same story was seen (other sites, syndicated copies).
    other_urls: Sequence[str] = ()
    #: Addresses left out of ``other_urls`` so that the message fits its channel.
    more_urls: int = 0

    @property
    def label(self) -> str:
        """The watchlist's display name; its id when the analyst gave it none."""
        return self.watchlist_name or self.watchlist_id

    @property
    def source_label(self) -> str:
        return self.source_name or self.source_id

    @property
    def highlighted(self) -> list[SnippetPart]:
        """The snippet in parts, as :func:`snippet_parts` splits it; digest templates loop over this."""
        return snippet_parts(self.snippet, self.spans)


@dataclass(frozen=True)
class RenderedAlert:
    #: One line: email subject, chat heading, MQTT first line.
    title: str
    markdown: str
    html: str
    text: str


@dataclass(frozen=True)
class SnippetPart:
    """A run of snippet text that is either all highlighted or not at all.

    Templates get these instead of raw offsets so that each format can mark a
    hit its own way (``<mark>``, ``**…**``, ``*…*``) and escaping never splits
    an entity or an escape sequence.
    """

    text: str
    hit: bool


def count_terms(terms: Iterable[str]) -> tuple[TermCount, ...]:
    """Most frequent first; ties keep first-seen order so the list reads in article order."""
    return tuple(TermCount(term, count) for term, count in Counter(terms).most_common())


def alert_title(ctx: AlertContext) -> str:
    """``[Korea] <article title>`` on one line: a newline in a subject or heading breaks most channels."""
    return " ".join(f"[{ctx.label}] {ctx.title}".split())


def snippet_parts(snippet: str, spans: Iterable[tuple[int, int]]) -> list[SnippetPart]:
    """Split the snippet at the highlight spans, tolerating spans that overlap, touch or overrun it."""
    merged: list[list[int]] = []
    for start, end in sorted((max(0, s), min(len(snippet), e)) for s, e in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[SnippetPart] = []
    position = 0
    for start, end in merged:
        if start > position:
            parts.append(SnippetPart(snippet[position:start], False))
        parts.append(SnippetPart(snippet[start:end], True))
        position = end
    if position < len(snippet):
        parts.append(SnippetPart(snippet[position:], False))
    return parts


# --------------------------------------------------------------------------- Markdown escaping

_MD_INLINE = re.compile(r"[\\`*\[\]<>]")
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_MD_BLOCK_START = re.compile(r"^(?:(#+|[-+=])|(\d+)([.)]))(?=\s|$)")
_MD_URL_UNSAFE = re.compile(r"[<>\\\s]")


def _escape_block_start(m: re.Match[str]) -> str:
    marker, number, delimiter = m.groups()
    return "\\" + marker if marker else f"{number}\\{delimiter}"


def escape_markdown(text: str) -> str:
    """Make article text literal in CommonMark, with as few backslashes as possible.

    apprise converts CommonMark into each chat's own dialect (Slack mrkdwn,
    Telegram Markdown), and Slack shows some backslashes as typed, so only
    characters that would really change the meaning are escaped: an
    underscore inside a word (``snake_case``) is left alone, a ``#``, ``-``
    or ``1.`` only at the start, where it would open a heading or a list.
    Whitespace runs become one space because a newline would end the quote
    or the link the text sits in.
    """
    text = re.sub(r"\s+", " ", text)
    text = _MD_INLINE.sub(lambda m: "\\" + m.group(0), text)
    text = _MD_UNDERSCORE.sub(r"\\_", text)
    return _MD_BLOCK_START.sub(_escape_block_start, text)


def markdown_strong(text: str) -> str:
    """``**hit**`` with the surrounding spaces kept outside, where CommonMark requires them."""
    core = text.strip()
    if not core:
        return text
    lead = " " if text[0].isspace() else ""
    trail = " " if text[-1].isspace() else ""
    return f"{lead}**{escape_markdown(core)}**{trail}"


def markdown_url(url: str) -> str:
    """A URL safe inside ``<…>``, the one link form in which parentheses and underscores need no escaping.

    Only what would end the ``<…>`` is percent-encoded, so a Cyrillic path stays readable.
    """
    return _MD_URL_UNSAFE.sub(lambda m: quote(m.group(0)), url)


def format_when(moment: datetime | None) -> str:
    """Always UTC and always labelled: readers sit in Prague and Kyiv, and servers anywhere."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- rendering


class _DefaultTemplates(jinja2.FileSystemLoader):
    """The shipped templates, which go stale the moment the user adds an override of the same name.

    Jinja re-checks a cached template only against its own file, so without
    this a running service would keep the default after an override appears.
    """

    def __init__(self, overrides: Path | None):
        super().__init__(DEFAULT_TEMPLATES)
        self.overrides = overrides

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        override = self.overrides / template if self.overrides else None
        return source, filename, lambda: uptodate() and not (override and override.exists())


@lru_cache(maxsize=16)
def _environment(templates_dir: Path | None) -> jinja2.Environment:
    """One environment per template folder; an edited, added or removed template takes effect at the next alert."""
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(templates_dir)] if templates_dir else []
    loaders.append(_DefaultTemplates(templates_dir))
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        # A typo in a user's template must fail loudly, not send alerts with holes in them.
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(md=escape_markdown, md_strong=markdown_strong, md_url=markdown_url, when=format_when)
    return environment


def _render(names: Sequence[str], variables: dict[str, object], title: str,
            templates_dir: Path | None) -> RenderedAlert:
    environment = _environment(templates_dir)
    markdown, html, text = (environment.get_template(name).render(variables).strip() for name in names)
    return RenderedAlert(title=title, markdown=markdown, html=html, text=text)


def render_alert(ctx: AlertContext, templates_dir: Path | None = None) -> RenderedAlert:
    """Render all three bodies; ``templates_dir`` holds the user's overrides (missing files fall back)."""
    title = alert_title(ctx)
    variables = {"alert": ctx, "title": title, "snippet": snippet_parts(ctx.snippet, ctx.spans)}
    return _render((MARKDOWN_TEMPLATE, HTML_TEMPLATE, TEXT_TEMPLATE), variables, title, templates_dir)


# --------------------------------------------------------------------------- several alerts in one message


@dataclass(frozen=True)
class WatchlistGroup:
    label: str
    alerts: Sequence[AlertContext]


@dataclass(frozen=True)
class DigestContext:
    """Several alerts for one channel, in one message, grouped by watchlist."""

    reason: FoldReason
    groups: Sequence[WatchlistGroup]
    #: One sentence on why these arrive together ("Held during quiet hours 22:00–07:00.").
    note: str = ""
    #: A fold too long for its channel goes out in parts: "(2/3)".
    part: int = 1
    parts: int = 1

    @property
    def count(self) -> int:
        return sum(len(group.alerts) for group in self.groups)


def group_by_watchlist(alerts: Iterable[AlertContext]) -> list[WatchlistGroup]:
    """Watchlists in the order their first alert comes, alerts in the order given."""
    groups: dict[str, list[AlertContext]] = {}
    for alert in alerts:
        groups.setdefault(alert.label, []).append(alert)
    return [WatchlistGroup(label, tuple(items)) for label, items in groups.items()]


def digest_title(ctx: DigestContext) -> str:
    """``[Korea] Digest: 3 new articles`` or ``[Hlídka] Digest: 5 new articles — Korea 3, NATO 2``."""
    noun = "article" if ctx.count == 1 else "articles"
    head = f"{_REASON_WORDS[ctx.reason]}: {ctx.count} new {noun}"
    if len(ctx.groups) == 1:
        title = f"[{ctx.groups[0].label}] {head}"
    else:
        title = f"[{APP_LABEL}] {head} — " + ", ".join(f"{g.label} {len(g.alerts)}" for g in ctx.groups)
    if ctx.parts > 1:
        title += f" ({ctx.part}/{ctx.parts})"
    return " ".join(title.split())


def render_digest(ctx: DigestContext, templates_dir: Path | None = None) -> RenderedAlert:
    title = digest_title(ctx)
    return _render(DIGEST_TEMPLATES, {"digest": ctx, "title": title}, title, templates_dir)


def render_operations(subject: str, body: str, templates_dir: Path | None = None) -> RenderedAlert:
    """An operations notice: its words were written when it was queued, the templates only frame them."""
    title = " ".join(f"[{APP_LABEL}] {subject}".split())
    variables = {"title": title, "subject": subject, "lines": body.splitlines()}
    return _render(OPERATIONS_TEMPLATES, variables, title, templates_dir)
