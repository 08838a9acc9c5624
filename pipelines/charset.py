"""Decode fetched HTML bytes to text, by the body's evidence where it contradicts the HTTP header.

trafilatura decodes bytes by statistical guessing, which cannot tell
windows-1250 from ISO-8859-2 on Czech text (``š`` and ``ž`` differ) and so
garbles exactly the words a watchlist looks for. The page's own declaration
is better evidence, and valid UTF-8 is better still: text in a legacy
single-byte code page practically never happens to be valid UTF-8.
"""

from __future__ import annotations

import codecs
import re

from trafilatura.utils import decode_file, handle_compressed_file
from w3lib.encoding import html_to_unicode

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_BOM_PREFIXES = tuple(bom for bom, _ in _BOMS)
_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_PRESCAN_BYTES = 4096
# WHATWG: pages labelled Latin-1 or ASCII are decoded as windows-1252 by every browser.
_BROWSER_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252"}


def declared_charset(head: bytes) -> str | None:
    """The Python codec named by the first ``<meta charset>``/``http-equiv`` in ``head``, if known."""
    match = _META_CHARSET.search(head)
    if not match:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None
    if name.startswith("utf-16"):  # a byte stream that reached a meta tag in ASCII is not UTF-16
        return None
    return _BROWSER_ALIASES.get(name, name)


def decode_html(data: bytes) -> str:
    """BOM, then strict UTF-8, then the page's declared charset, then trafilatura's guess."""
    data = handle_compressed_file(data)
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = declared_charset(data[:_PRESCAN_BYTES])
    if declared and declared != "utf-8":
        return data.decode(declared, errors="replace")
    return decode_file(data)


def decode_by_evidence(body: bytes, encoding: str, header_charset: str | None) -> tuple[str, str]:
    """``(codec, text)`` of a fetched page that Scrapy would decode with ``encoding``.

    Scrapy trusts the Content-Type charset (``header_charset``), as browsers
    do; servers with a wrong default are common on old Czech and Ukrainian
    sites. Two contradictions are caught: a body that is valid UTF-8 with
    non-ASCII bytes is UTF-8 whatever the header says (legacy single-byte text
    is practically never valid UTF-8), and a header that claims UTF-8 for a
    body that is not gives way to the page's own ``<meta charset>``. With no
    header charset, or a BOM, Scrapy's own choice stands.

    One function for both sides of the crawl: the listings' middleware asks it
    for the codec, the extraction worker for the text, so an article page is
    decoded once, in the worker, rather than once more in the reactor thread.
    """
    if header_charset is not None and not body.startswith(_BOM_PREFIXES):
        if header_charset == "utf-8" or not body.isascii():
            try:
                return "utf-8", body.decode("utf-8")
            except UnicodeDecodeError:
                pass
        if header_charset == "utf-8":
            declared = declared_charset(body[:_PRESCAN_BYTES])
            if declared and declared != "utf-8":
                encoding = declared
    return encoding, html_to_unicode(f"charset={encoding}", body)[1]
