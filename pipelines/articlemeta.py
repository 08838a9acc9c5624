"""Headline, author and publishing date, found the way trafilatura finds them, without the rest.

``bare_extraction(with_metadata=True)`` also looks for the site name,
categories, tags and licence, which Hlídka never stores: on realistic news
pages (``bench/crawl.py``) those cost ~4 ms of the ~21 ms an extraction takes.
This module runs only the steps of ``trafilatura.metadata.extract_metadata``
that decide title, author and date, in its order and with its rules, so the
three fields are the ones stock trafilatura reports
(``tests/test_articlemeta.py`` compares them on every fixture page). Those
steps are module-level functions of trafilatura rather than its documented
API, which is why ``pyproject.toml`` keeps trafilatura within one minor
release.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import unescape

from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura.metadata import examine_meta, extract_author, extract_meta_json, extract_title, extract_url
from trafilatura.utils import line_processing

#: htmldate's output format: keep the time and the UTC offset, not just the day.
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
#: trafilatura's cap on a metadata string, kept so long titles come out as stock trafilatura cuts them.
_MAX_CHARS = 10000


@dataclass(frozen=True)
class ArticleMeta:
    title: str | None
    author: str | None
    #: As htmldate writes it (:data:`_DATE_FORMAT`), or None.
    date: str | None


def article_metadata(tree: HtmlElement, url: str) -> ArticleMeta:
    """Title, author and publishing date of the page ``tree`` (not modified) served from ``url``."""
    document = examine_meta(tree)
    if document.author and " " not in document.author:
        document.author = None  # a single word is a handle or a section name, not a byline (trafilatura's rule)
    try:
        document = extract_meta_json(tree, document)
    except Exception:  # noqa: BLE001 - trafilatura's JSON-LD reader fails on odd markup; meta tags still count
        pass
    title = document.title or extract_title(tree)
    author = document.author or extract_author(tree)
    canonical = document.url or extract_url(tree, url)
    date = find_date(tree, url=canonical, **date_params())
    return ArticleMeta(title=_trimmed(title), author=_trimmed(author), date=date)


def date_params() -> dict[str, object]:
    """htmldate's settings: the original (not the updated) date, searched for in the whole page."""
    # A day of slack: "today" in Kyiv is still tomorrow's date for a worker clock behind it.
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d")
    return {"original_date": True, "extensive_search": True, "max_date": tomorrow, "outputformat": _DATE_FORMAT}


def _trimmed(value: str | None) -> str | None:
    """trafilatura's clean-up of a metadata string (``Document.clean_and_trim``)."""
    if not value:
        return value
    if len(value) > _MAX_CHARS:
        value = value[: _MAX_CHARS - 1] + "…"
    return line_processing(unescape(value))
