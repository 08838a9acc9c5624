"""Article text and metadata from one HTML page.

Pure (no Scrapy, no I/O) and top-level so that it runs in a process pool:
extraction is ~90% of the CPU an article costs, and the crawl's reactor
thread must not wait for it. Precision matters more than recall here: a
menu item or a teaser that leaks into the text raises an alert about a
story the article is not about, whereas a lost caption costs little.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from lxml.html import HtmlElement
from trafilatura import bare_extraction, load_html
from trafilatura.settings import Document

from pipelines.articlemeta import article_metadata, date_params
from pipelines.charset import decode_html
from pipelines.htmlmeta import PageMeta, parse_datetime, read_page_meta
from pipelines.langid import detect_language, normalise_code, resolve_language
from pipelines.related import RELATED_MARKERS, cut_at_related

__all__ = ["RELATED_MARKERS", "Extracted", "detect_language", "extract_article"]

_TITLE_SEPARATORS = (" - ", " | ", " – ", " — ", " :: ", " · ", " / ")
#: Text, not comments, tables, image captions or link targets: none of them is what the article says.
_OPTIONS: dict[str, bool] = {"include_comments": False, "include_tables": False, "include_images": False,
                             "include_links": False}
#: A precise text shorter than this is checked against a balanced extraction…
FALLBACK_BELOW_CHARS = 1500
#: …which replaces it when the precise text is less than this share of it.
FALLBACK_RATIO = 0.5


@dataclass(frozen=True)
class Extracted:
    """The result for one page; ``ok`` False means "not an article worth matching", with ``reason``."""

    ok: bool
    reason: str | None
    title: str
    text: str
    published: datetime | None
    modified: datetime | None
    author: str | None
    language: str | None
    canonical_url: str | None


def extract_article(html: bytes | str, url: str, *, language_hint: str | None = None, min_chars: int = 200,
                    markers: Iterable[str] = RELATED_MARKERS) -> Extracted:
    """Main text, title, dates, author, language and canonical URL of the article at ``url``.

    ``html`` as bytes is decoded by its BOM, UTF-8 validity or ``<meta charset>``;
    prefer passing the text already decoded with the HTTP header's charset.
    ``language_hint`` (the source's language) is used when the page declares none.
    ``markers`` are the headings at which the text is cut (see :mod:`pipelines.related`).
    """
    page = decode_html(html) if isinstance(html, bytes) else html
    if not page.strip():
        return _rejected("empty page")
    tree = load_html(page)
    if tree is None:
        return _rejected("not an HTML document")
    meta = read_page_meta(tree, url)
    try:
        main_text = _main_text(tree, url)
        if not main_text:
            return _rejected("no main text found", meta)
        headline = article_metadata(tree, url)
    except Exception as exc:  # hostile markup must cost one page, not the crawl
        return _rejected(f"extractor failed: {type(exc).__name__}: {exc}", meta)
    text = _with_perex(cut_at_related(main_text, markers), meta.perex)
    title = _title(headline.title, meta)
    language = resolve_language(meta.language, language_hint, f"{title}\n{text}")
    ok = len(text) >= min_chars
    return Extracted(
        ok=ok,
        reason=None if ok else f"too little text ({len(text)} chars)",
        title=title,
        text=text,
        published=parse_datetime(headline.date),
        modified=meta.modified,
        author=headline.author or None,
        language=language,
        canonical_url=meta.canonical_url,
    )


def trafilatura_extraction(page: HtmlElement | str, url: str, *, precise: bool = True,
                           with_metadata: bool = False) -> Document | None:
    """trafilatura with our content options; the article's text alone unless ``with_metadata``.

    :func:`extract_article` takes title, author and date from
    :func:`article_metadata`, which skips the site name, categories, tags and
    licence that ``with_metadata`` would also look for; ``with_metadata`` is
    stock trafilatura, the baseline ``bench/crawl.py`` and the tests compare with.
    """
    document = bare_extraction(page, url=url, favor_precision=precise, with_metadata=with_metadata,
                               date_extraction_params=date_params(), **_OPTIONS)
    return document if isinstance(document, Document) else None


def _main_text(tree: HtmlElement, url: str) -> str:
    """The precise extraction's text, unless it is short and less than half of a balanced one's.

    ``favor_precision`` sometimes keeps only a fragment of an article whose
    paragraphs sit in unusual markup (nothing of 13,000 characters on one
    corpus page). Extracting again costs another ~10 ms, so it is done only
    for short results; on the shared corpus (``bench/extraction.py``) it
    recovers about one point of recall and costs no precision.
    """
    document = trafilatura_extraction(tree, url)
    precise = (document.text or "") if document else ""
    if len(precise) >= FALLBACK_BELOW_CHARS:
        return precise
    balanced = trafilatura_extraction(tree, url, precise=False)
    if balanced is not None and balanced.text and len(precise) < FALLBACK_RATIO * len(balanced.text):
        return balanced.text
    return precise


def _with_perex(text: str, perex: str | None) -> str:
    """Put back a lead paragraph the extractor left out (see :class:`PageMeta`)."""
    if not perex or perex in " ".join(text.split()):
        return text
    return f"{perex}\n{text}"


def _title(extracted: str | None, meta: PageMeta) -> str:
    """The headline without the site name that <title> and og:title often append."""
    title = " ".join((extracted or "").split()) or meta.og_title or meta.h1 or ""
    h1 = meta.h1
    if h1 and title != h1 and title.startswith(h1) and title[len(h1):].startswith(_TITLE_SEPARATORS):
        return h1
    if meta.site_name:
        for separator in _TITLE_SEPARATORS:
            suffix = separator + meta.site_name
            if title.endswith(suffix) and len(title) > len(suffix):
                return title[: -len(suffix)].strip()
    return title


def _rejected(reason: str, meta: PageMeta | None = None) -> Extracted:
    return Extracted(
        ok=False,
        reason=reason,
        title=(meta.og_title or meta.h1 or "") if meta else "",
        text="",
        published=None,
        modified=meta.modified if meta else None,
        author=None,
        language=normalise_code(meta.language) if meta else None,
        canonical_url=meta.canonical_url if meta else None,
    )
