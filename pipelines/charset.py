"""Decode fetched HTML bytes to text when no HTTP header says how.

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

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
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
