"""Text and metadata of a PDF document: press releases and statements linked from listings.

Ministries publish their statements as PDFs as often as as pages, and an
analyst wants those matched like any article. Pure and top-level like
:func:`pipelines.extraction.extract_article`, so it runs in the same worker
pool; pypdf is pure Python, so a hostile file costs a worker some time but
cannot crash it.
"""

from __future__ import annotations

import logging
import re
from io import BytesIO

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from pipelines.extraction import Extracted
from pipelines.langid import resolve_language

#: A press release is a few pages; a 300-page annual report linked by mistake is cut here.
MAX_PAGES = 30
#: How far down the first page the title is looked for (below a letterhead, "PRESS RELEASE" and the like).
_HEAD_LINES = 6
_HYPHENATED = re.compile(r"(\w)-\n(?=[a-zà-ž\u0400-\u04ff])")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# Word processors' default titles say nothing about the content.
_PLACEHOLDER_TITLE = re.compile(r"^(microsoft word|untitled|dokument|document|bez názvu)\b|\.(docx?|odt|rtf)$", re.I)

logging.getLogger("pypdf").setLevel(logging.ERROR)  # per-object repair warnings of sloppy producers


def extract_pdf(data: bytes, *, language_hint: str | None = None, min_chars: int = 200) -> Extracted:
    """Title, text, dates, author and language of a PDF; ``ok`` False with a reason if it has no usable text."""
    try:
        reader = PdfReader(BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return _rejected("PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages[:MAX_PAGES]]
        info = reader.metadata
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        return _rejected(f"unreadable PDF: {type(exc).__name__}: {exc}")
    raw = "\n\n".join(pages).strip()
    if not raw:
        return _rejected("PDF has no text layer (a scan?)")
    lines = raw.split("\n")
    title = _meta_title(info.title if info else None) or " ".join(lines[0].split())
    text = _paragraphs("\n".join(_after_title(lines, title)))
    ok = len(text) >= min_chars
    return Extracted(
        ok=ok,
        reason=None if ok else f"too little text ({len(text)} chars)",
        title=title,
        text=text,
        published=info.creation_date if info else None,
        modified=info.modification_date if info else None,
        author=(info.author or None) if info else None,
        language=resolve_language(None, language_hint, f"{title}\n{text}"),
        canonical_url=None,
    )


def _paragraphs(raw: str) -> str:
    """Undo hard line wraps and end-of-line hyphenation; keep blank-line paragraph breaks."""
    text = _HYPHENATED.sub(r"\1", raw.replace("\r\n", "\n").replace("\r", "\n"))
    blocks = (" ".join(line.strip() for line in block.splitlines() if line.strip()) for block in _BLANK_LINES.split(text))
    return "\n".join(block for block in blocks if block)


def _after_title(lines: list[str], title: str) -> list[str]:
    """Drop the letterhead lines up to the title (wrapped over up to three lines) when it opens the document."""
    for start in range(min(_HEAD_LINES, len(lines))):
        for end in range(start + 1, min(start + 4, len(lines)) + 1):
            if " ".join(" ".join(lines[start:end]).split()) == title:
                return lines[end:]
    return lines


def _meta_title(value: str | None) -> str | None:
    title = " ".join((value or "").split())
    return title if title and not _PLACEHOLDER_TITLE.search(title) else None


def _rejected(reason: str) -> Extracted:
    return Extracted(ok=False, reason=reason, title="", text="", published=None, modified=None, author=None,
                     language=None, canonical_url=None)
