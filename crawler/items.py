"""What travels from the spider through the item pipelines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.extraction import Extracted
    from pipelines.neardup import Signature


@dataclass
class ArticlePage:
    """A downloaded article page, enriched stage by stage.

    The spider fills the first block; ``extract`` adds ``extracted``, ``content_hash``
    and ``signature``; ``dedupe`` settles the final ``canonical_url``;
    ``match`` adds ``matches``; ``store`` writes it all in one transaction.
    """

    source_id: str
    url: str
    canonical_url: str
    #: The page's bytes as downloaded: decoding them is left to the extraction worker, which
    #: spares the crawl process encoding ~100 KB of text again to hand it over.
    html: bytes
    language_hint: str | None
    fetched_at: datetime
    aliases: dict[str, str] = field(default_factory=dict)
    #: Every canonical key this page is known under: the listing's link, the
    #: URL after redirects, the page's own rel=canonical. All go into the seen-URL store.
    url_keys: set[str] = field(default_factory=set)
    #: How Scrapy decodes ``html`` (BOM, HTTP header, <meta charset>, then detection)…
    encoding: str = "utf-8"
    #: …and the Content-Type charset, which the worker overrules where the body contradicts it
    #: (:func:`~pipelines.charset.decode_by_evidence`).
    header_charset: str | None = None
    #: The raw document when the page is a PDF (a press release); ``html`` is then empty.
    pdf: bytes | None = None
    #: Set when this is a re-check of a stored article (``recheck`` on the source) that the
    #: server reports as changed: the id of the stored version it may update.
    recheck_of: int | None = None
    extracted: Extracted | None = None
    #: MinHash of the extracted text, made beside the extraction (see :mod:`pipelines.pagetext`).
    signature: Signature | None = None
    content_hash: str = ""
    #: watchlist id → MatchResult
    matches: dict[str, Any] = field(default_factory=dict)
