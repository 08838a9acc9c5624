"""Build the fixture sites from ``seeds/site.yaml`` and the seed texts it points to.

The seeds are kept byte for byte as they were collected (OCR damage, markdown,
trailing source URLs, scraped teasers); ``site.yaml`` says which slice of each
seed is the article body and which lines are related-news teasers, so the
originals stay the single source of truth for the text.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from hlidka.fixtureweb.model import Article, Labels, Site, Teaser

SEEDS_DIR = Path(__file__).resolve().parents[2] / "seeds"
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def load_sites(seeds_dir: Path = SEEDS_DIR) -> dict[str, Site]:
    """Every fixture site by id, articles newest first."""
    data = yaml.safe_load((seeds_dir / "site.yaml").read_text(encoding="utf-8"))
    return {site_id: _site(site_id, spec, seeds_dir) for site_id, spec in data["sites"].items()}


def _site(site_id: str, spec: dict[str, Any], seeds_dir: Path) -> Site:
    articles = [_article(item, seeds_dir / "originals") for item in spec["articles"]]
    articles.sort(key=lambda a: a.published, reverse=True)
    return Site(
        id=site_id,
        name=spec["name"],
        short_name=spec["short_name"],
        language=spec["language"],
        locale=spec["locale"],
        encoding=spec["encoding"],
        listing=spec["listing"],
        page=spec["page"],
        article=spec["article"],
        per_page=spec["per_page"],
        related=spec["related"],
        labels=Labels(**spec["labels"]),
        nav=tuple((label, href) for label, href in spec["nav"]),
        topics=tuple((label, href) for label, href in spec["topics"]),
        footer=tuple(spec["footer"]),
        teasers=tuple(Teaser(**t) for t in spec.get("teasers", [])),
        articles=tuple(articles),
        feed=spec.get("feed"),
        crawl=spec.get("crawl", "html"),
        body_class=spec.get("body_class", "article-body"),
    )


def _article(spec: dict[str, Any], originals: Path) -> Article:
    lead, paragraphs = spec.get("lead"), tuple(spec.get("paragraphs", ()))
    teasers: tuple[Teaser, ...] = ()
    if "text" in spec:
        lead, paragraphs, teasers = _from_seed(originals, spec["text"])
    return Article(
        id=spec["id"],
        slug=spec["slug"],
        title=spec["title"],
        published=_aware(spec["published"]),
        modified=_aware(spec["modified"]) if "modified" in spec else None,
        author=spec.get("author"),
        lead=lead,
        paragraphs=paragraphs,
        related=teasers,
        language=spec.get("language"),
        seed=spec.get("seed"),
    )


def _aware(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _from_seed(originals: Path, spec: dict[str, str]) -> tuple[str | None, tuple[str, ...], tuple[Teaser, ...]]:
    """Cut the article body (and any scraped teasers) out of one seed file."""
    path = originals / spec["seed"]
    text = path.read_text(encoding="utf-8")
    body = _between(text, spec.get("start_after"), spec.get("end_before"), path)
    lead, paragraphs = _split_lead(_paragraphs(body))
    teasers: tuple[Teaser, ...] = ()
    if "teasers_after" in spec:
        block = _between(text, spec["teasers_after"], spec.get("teasers_before"), path)
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if len(lines) % 2:
            raise ValueError(f"{path.name}: teasers must come as headline/summary line pairs")
        teasers = tuple(Teaser(title=t, summary=s) for t, s in zip(lines[::2], lines[1::2], strict=True))
    return lead, paragraphs, teasers


def _between(text: str, start_after: str | None, end_before: str | None, path: Path) -> str:
    for marker in (start_after, end_before):
        if marker is not None and marker not in text:
            raise ValueError(f"{path.name}: marker {marker!r} not found")
    if start_after is not None:
        text = text.split(start_after, 1)[1]
    if end_before is not None:
        text = text.split(end_before, 1)[0]
    return text


def _paragraphs(text: str) -> tuple[str, ...]:
    """Blank-line separated blocks are paragraphs whose hard line wraps are undone (OCR, markdown);
    a text without blank lines has one paragraph per line (scraped pages)."""
    text = text.strip()
    if _BLANK_LINE.search(text):
        blocks = _BLANK_LINE.split(text)
        return tuple(" ".join(line.strip() for line in b.splitlines()) for b in blocks if b.strip())
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _split_lead(paragraphs: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """A first paragraph in markdown bold is the perex, as on the original page."""
    if paragraphs and paragraphs[0].startswith("**") and paragraphs[0].endswith("**"):
        return paragraphs[0].strip("*").strip(), paragraphs[1:]
    return None, paragraphs
