"""Minimal PDF press releases, written by hand so the fixture web needs no PDF library.

A4 pages with Helvetica text, compressed content streams, document info
(title, author, dates) — the shape of what a ministry's word processor
exports. Czech letters are reached through a font encoding whose
``/Differences`` name each glyph, which is how single-byte PDF fonts carry
letters outside WinAnsi; text extractors map the names back to Unicode.
"""

from __future__ import annotations

import textwrap
import zlib
from collections.abc import Sequence
from datetime import datetime

#: Adobe glyph names of the non-ASCII characters the press releases use.
GLYPH_NAMES = {
    "á": "aacute", "č": "ccaron", "ď": "dcaron", "é": "eacute", "ě": "ecaron", "í": "iacute", "ň": "ncaron",
    "ó": "oacute", "ř": "rcaron", "š": "scaron", "ť": "tcaron", "ú": "uacute", "ů": "uring", "ý": "yacute",
    "ž": "zcaron", "Á": "Aacute", "Č": "Ccaron", "Ď": "Dcaron", "É": "Eacute", "Ě": "Ecaron", "Í": "Iacute",
    "Ň": "Ncaron", "Ó": "Oacute", "Ř": "Rcaron", "Š": "Scaron", "Ť": "Tcaron", "Ú": "Uacute", "Ů": "Uring",
    "Ý": "Yacute", "Ž": "Zcaron", "„": "quotedblbase", "“": "quotedblleft", "”": "quotedblright",
    "–": "endash", "—": "emdash", "…": "ellipsis", "’": "quoteright", "°": "degree", "§": "section",
}
_LINE_CHARS = 88
_LINES_PER_PAGE = 54
_LEADING = 14


def _pdf_date(moment: datetime) -> str:
    offset = moment.strftime("%z") or "+0000"
    return moment.strftime("D:%Y%m%d%H%M%S") + f"{offset[0]}{offset[1:3]}'{offset[3:5]}'"


def _info_string(text: str) -> bytes:
    """A text string in UTF-16BE with a byte-order mark, as PDF requires for non-Latin-1 text."""
    return b"<" + ("\ufeff" + text).encode("utf-16-be").hex().upper().encode() + b">"


class _Encoding:
    """Assigns codes 128… to the non-ASCII characters of one document."""

    def __init__(self, text: str):
        extra = sorted({c for c in text if ord(c) > 126})
        unknown = [c for c in extra if c not in GLYPH_NAMES]
        if unknown:
            raise ValueError(f"no glyph name for {''.join(unknown)!r}: add it to GLYPH_NAMES")
        if len(extra) > 128:
            raise ValueError("too many distinct non-ASCII characters for one single-byte font")
        self.codes = {c: 128 + i for i, c in enumerate(extra)}

    def differences(self) -> bytes:
        names = " ".join("/" + GLYPH_NAMES[c] for c in self.codes)
        return f"[128 {names}]".encode("ascii")

    def string(self, text: str) -> bytes:
        out = bytearray(b"(")
        for char in text.replace("\u00a0", " "):
            code = self.codes.get(char, ord(char))
            if char in "\\()":
                out += b"\\" + char.encode()
            elif code > 126:
                out += f"\\{code:03o}".encode()
            else:
                out.append(code)
        return bytes(out + b")")


def pdf_document(title: str, paragraphs: Sequence[str], *, author: str, created: datetime,
                 heading: str = "TISKOVÁ ZPRÁVA") -> bytes:
    """A press release: a heading line, the title in bold, then the paragraphs, wrapped and paginated."""
    encoding = _Encoding(" ".join([heading, title, *paragraphs]))
    lines: list[tuple[str, str]] = [("F2", heading), ("F2", title), ("F1", "")]
    for paragraph in paragraphs:
        lines += [("F1", line) for line in textwrap.wrap(paragraph, _LINE_CHARS, break_on_hyphens=False)]
        lines.append(("F1", ""))
    pages = [lines[i:i + _LINES_PER_PAGE] for i in range(0, len(lines), _LINES_PER_PAGE)]

    objects: list[bytes] = []  # object n is objects[n - 1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    enc = add(b"<< /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences " + encoding.differences() + b" >>")
    regular = add(f"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding {enc} 0 R >>".encode())
    bold = add(f"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding {enc} 0 R >>".encode())
    pages_id = len(objects) + 2 * len(pages) + 1  # after every page and its content stream
    kids = []
    for page_lines in pages:
        ops = [f"BT {_LEADING} TL 56 790 Td".encode()]
        for font, line in page_lines:
            ops.append(f"/{font} {12 if font == 'F2' else 10.5} Tf ".encode() + encoding.string(line) + b" Tj T*")
        ops.append(b"ET")
        stream = zlib.compress(b"\n".join(ops))
        content = add(f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream + b"\nendstream")
        kids.append(add(
            f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 595 842] /Contents {content} 0 R "
            f"/Resources << /Font << /F1 {regular} 0 R /F2 {bold} 0 R >> >> >>".encode()))
    assert add(f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()) == pages_id
    catalog = add(f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode())
    info = add(b"<< /Title " + _info_string(title) + b" /Author " + _info_string(author)
               + f" /CreationDate ({_pdf_date(created)}) /ModDate ({_pdf_date(created)})".encode()
               + b" /Producer (Hlidka fixture web) >>")

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
