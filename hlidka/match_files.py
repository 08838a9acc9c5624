"""``hlidka match``: try the watchlists on local files, with the crawler's own extraction.

An analyst who edits a watchlist wants to see, before the service does, what
it catches and why: this runs the same extraction and matcher as a crawl, on
saved pages or plain text, and prints each hit as written in the document.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from config import Config
from pipelines.extraction import detect_language, extract_article
from pipelines.matching import MatchResult, Matcher, make_snippet
from pipelines.related import cut_at_related

HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


@dataclass(frozen=True)
class Document:
    path: Path
    title: str
    text: str
    language: str | None
    published: datetime | None
    problem: str | None = None


def read_document(path: Path) -> Document:
    """HTML goes through extraction; plain text is cut at a "related news" heading as extraction would.

    Either way what is matched is the article, so a saved page's menus or an
    OCR'd page's trailing teasers give the same (non-)alert as in the service.
    """
    raw = path.read_bytes()
    if path.suffix.lower() in HTML_SUFFIXES or raw.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")):
        extracted = extract_article(raw, path.resolve().as_uri(), min_chars=1)
        return Document(path, extracted.title, extracted.text, extracted.language, extracted.published,
                        None if extracted.ok else extracted.reason)
    text = cut_at_related(raw.decode("utf-8", errors="replace"))
    return Document(path, "", text, detect_language(text), None)


def _as_json(doc: Document, results: dict[str, MatchResult]) -> dict[str, Any]:
    return {
        "path": str(doc.path),
        "title": doc.title,
        "language": doc.language,
        "published": doc.published.isoformat() if doc.published else None,
        "matches": {wid: result.to_dict() for wid, result in results.items()},
    }


def _print_human(doc: Document, results: dict[str, MatchResult], out: TextIO) -> None:
    published = doc.published.date().isoformat() if doc.published else "-"
    out.write(f"{doc.path}\n  title: {doc.title or '-'}\n  language: {doc.language or '-'}   published: {published}\n")
    if doc.problem:
        out.write(f"  extraction: {doc.problem}\n")
    if not results:
        out.write("  no watchlist matches\n\n")
        return
    for wid, result in results.items():
        out.write(f"  ✔ {wid}  score {result.score:g}, {len(result.hits)} hits\n")
        for hit in result.hits:
            out.write(f"      {hit.term!r:28} {hit.surface!r:32} {hit.field} {hit.start}-{hit.end}\n")
        snippet = make_snippet(doc.text, result.hits)
        if snippet.text:
            marked, last = [], 0
            for start, end in snippet.spans:
                marked += [snippet.text[last:start], "[", snippet.text[start:end], "]"]
                last = end
            marked.append(snippet.text[last:])
            out.write(f"      “{''.join(marked)}”\n")
    out.write("\n")


def match_files(config: Config, paths: list[Path], as_json: bool = False, out: TextIO = sys.stdout) -> int:
    matcher = Matcher(config.watchlists)
    status = 0
    for path in paths:
        try:
            doc = read_document(path)
        except OSError as exc:
            print(f"{path}: {exc.strerror}", file=sys.stderr)
            status = 1
            continue
        results = matcher.match(title=doc.title, text=doc.text, language=doc.language)
        if as_json:
            out.write(json.dumps(_as_json(doc, results), ensure_ascii=False) + "\n")
        else:
            _print_human(doc, results, out)
    return status
