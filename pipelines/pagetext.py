"""Everything the worker pool computes for one downloaded page, in one call.

Extraction is most of an article's CPU, and the fingerprints of its text (the
exact hash, the MinHash signature and its band keys) are the next biggest piece
(~2 ms). All are pure functions of the page, so all run in the worker process
that already holds the text: the crawl process, whose single reactor thread
also fetches every page, gets back a result that needs only database work.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.charset import decode_by_evidence
from pipelines.extraction import Extracted, extract_article
from pipelines.neardup import Signature, content_hash, signature
from pipelines.pdftext import extract_pdf


@dataclass(frozen=True)
class PageText:
    extracted: Extracted
    #: :func:`~pipelines.neardup.content_hash` of title and text ("" when the page gave no article).
    content_hash: str
    #: MinHash of the main text, band keys computed; None when the page gave no article.
    signature: Signature | None


def page_text(html: bytes, encoding: str, header_charset: str | None, pdf: bytes | None, url: str, *,
              language_hint: str | None, min_chars: int) -> PageText:
    """Extract the article of an HTML page (or of ``pdf`` when given) and fingerprint its text.

    ``html`` is decoded here, with Scrapy's ``encoding`` unless the body
    contradicts the header's charset: bytes cross the process boundary for
    free, a str would be encoded to UTF-8 by the crawl process (~100 µs a page)
    and decoded here anyway.
    """
    if pdf is not None:
        extracted = extract_pdf(pdf, language_hint=language_hint, min_chars=min_chars)
    else:
        _, text = decode_by_evidence(html, encoding, header_charset)
        extracted = extract_article(text, url, language_hint=language_hint, min_chars=min_chars)
    if not extracted.ok:
        return PageText(extracted, "", None)
    fingerprint = signature(extracted.text)
    fingerprint.band_keys  # noqa: B018 - computed here, pickled with the signature
    return PageText(extracted, content_hash(extracted.title, extracted.text), fingerprint)
