"""Our extraction against trafilatura's default settings, on real pages with gold main text.

Run:  .venv/bin/python bench/extraction.py [CORPUS] [--workers 2] [--json out.json]   (about 2 min)

CORPUS is a folder holding ``<set>/gold.json`` files in the shared corpus format
(``html``, ``url``, ``language``, ``title``, ``main_text`` per page); by default
``../shared/corpus`` relative to the repository.

Figures, per language and for all pages, for both extractors in the same run:

* token precision and recall of the extracted text against the gold main text
  (bags of casefolded words, CJK characters one token each): *micro* sums the
  overlaps over all pages (a long article weighs more), *macro* averages the
  per-page ratios (every page weighs the same; a page with no text has precision 0);
* boilerplate leak: among pages where a watched term (NATO, Korea, Ukraine, Russia,
  Indo-Pacific, in the corpus' languages) is visible on the page but absent from the
  gold title and text — matching the whole page would raise a false alert there —
  the share whose extracted text contains such a term;
* pages with no text at all, and pages per second on one core.

The acceptance rule (issue 5): ours beats the default on precision and loses at
most 2 points of recall.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"

EXTRACTORS = ("ours", "default")
#: Languages with their own row; the rest are pooled under "other".
OWN_ROWS = ("cs", "uk", "en", "de", "ru")

_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]|\w+")
#: Watched topics as word stems in the corpus' main languages; enough to find teasers and menus that name them.
WATCHED: dict[str, str] = {
    "nato": r"\bnato\b|\bнато\b|\botan\b|나토|北約|北约",
    "korea": r"\bk[oó]re(?:a|j|u\b|ou\b|o\b|i\b)|\bnordkorea|\bsüdkorea|\bкоре(?:я|ю|ї|и|йськ|йск)|한국|북한|韓国|北朝鮮|朝鲜",
    "ukraine": r"ukrain|ukrajin|україн|украин|ucrain|ucran|ukrayna|우크라이나|ウクライナ|乌克兰",
    "russia": r"\brussia|\brussland|\brussisch|\brussie\b|\brusia\b|\brusk(?:o|a|u|em|ý|á|é|ého|ých)\b|\brusové\b"
              r"|\brosj|\bryssland|\bросі[яюй]|\bросси|\bрусск|러시아|ロシア|俄罗斯",
    "indo-pacific": r"indo[\s\-–]?pa[cz][ií]fi|індо[\s\-–]?тихоокеан|индо[\s\-–]?тихоокеан",
}
_WATCHED = {term: re.compile(pattern, re.IGNORECASE) for term, pattern in WATCHED.items()}
_INVISIBLE = ("script", "style", "noscript", "template", "svg", "iframe", "head")


def tokens(text: str) -> Counter[str]:
    return Counter(_TOKEN.findall(text.casefold()))


def terms_in(text: str) -> set[str]:
    return {term for term, pattern in _WATCHED.items() if pattern.search(text)}


def visible_text(html: str) -> str:
    """The page as a reader sees it, roughly: body text without scripts, styles and hidden elements."""
    from lxml import html as lxml_html

    tree = lxml_html.fromstring(html)
    for element in tree.xpath("|".join(f"//{tag}" for tag in _INVISIBLE) +
                              '|//*[@hidden]|//*[contains(translate(@style, " ", ""), "display:none")]'):
        if element.getparent() is not None:
            element.drop_tree()
    return " ".join(tree.text_content().split())


@dataclass
class Scored:
    predicted: int
    overlap: int
    seconds: float
    leaked: list[str]


@dataclass
class PageResult:
    page: str
    language: str
    gold_tokens: int
    traps: list[str]
    scores: dict[str, Scored] = field(default_factory=dict)


def score_page(html_path: str, url: str, language: str, gold_title: str, gold_text: str, page: str) -> PageResult:
    """Run both extractors on one page; executed in a worker process."""
    import trafilatura

    from pipelines.extraction import extract_article

    html = gzip.decompress(Path(html_path).read_bytes()).decode("utf-8", errors="replace")
    gold = tokens(gold_text)
    traps = sorted(terms_in(visible_text(html)) - terms_in(f"{gold_title}\n{gold_text}"))
    result = PageResult(page=page, language=language, gold_tokens=sum(gold.values()), traps=traps)
    for name in EXTRACTORS:
        started = time.process_time()
        if name == "ours":
            text = extract_article(html, url).text
        else:
            text = trafilatura.extract(html, url=url) or ""
        seconds = time.process_time() - started
        predicted = tokens(text)
        result.scores[name] = Scored(
            predicted=sum(predicted.values()),
            overlap=sum((predicted & gold).values()),
            seconds=seconds,
            leaked=sorted(terms_in(text) & set(traps)),
        )
    return result


def load_pages(corpus: Path) -> list[tuple[str, str, str, str, str, str]]:
    pages = []
    for gold_file in sorted(corpus.glob("*/gold.json")):
        for record in json.loads(gold_file.read_text(encoding="utf-8")):
            if not record.get("main_text"):
                continue
            pages.append((str(gold_file.parent / record["html"]), record["url"], record["language"],
                          record.get("title") or "", record["main_text"], f"{gold_file.parent.name}/{record['id']}"))
    return pages


@dataclass
class Row:
    pages: int
    micro_p: float
    micro_r: float
    macro_p: float
    macro_r: float
    leak: float | None
    trap_pages: int
    empty: int
    per_second: float


def summarise(results: Iterable[PageResult], name: str) -> Row:
    results = list(results)
    scores = [r.scores[name] for r in results]
    overlap = sum(s.overlap for s in scores)
    predicted = sum(s.predicted for s in scores)
    gold = sum(r.gold_tokens for r in results)
    trapped = [r for r in results if r.traps]
    leaked = [r for r in trapped if r.scores[name].leaked]
    seconds = sum(s.seconds for s in scores)
    return Row(
        pages=len(results),
        micro_p=overlap / predicted if predicted else 0.0,
        micro_r=overlap / gold if gold else 0.0,
        macro_p=statistics.fmean(s.overlap / s.predicted if s.predicted else 0.0 for s in scores),
        macro_r=statistics.fmean(s.overlap / r.gold_tokens if r.gold_tokens else 1.0 for s, r in zip(scores, results)),
        leak=len(leaked) / len(trapped) if trapped else None,
        trap_pages=len(trapped),
        empty=sum(1 for s in scores if not s.predicted),
        per_second=len(results) / seconds if seconds else 0.0,
    )


def report(results: list[PageResult]) -> str:
    groups: dict[str, list[PageResult]] = defaultdict(list)
    for result in results:
        groups[result.language if result.language in OWN_ROWS else "other"].append(result)
    groups["all"] = results
    order = [g for g in (*OWN_ROWS, "other", "all") if g in groups]
    lines = [
        "| lang | pages | extractor | micro P | micro R | macro P | macro R | leak (trap pages) | empty | pages/s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for group in order:
        for name in EXTRACTORS:
            row = summarise(groups[group], name)
            leak = "–" if row.leak is None else f"{100 * row.leak:.1f}% ({row.trap_pages})"
            lines.append(f"| {group} | {row.pages} | {name} | {100 * row.micro_p:.1f} | {100 * row.micro_r:.1f} | "
                         f"{100 * row.macro_p:.1f} | {100 * row.macro_r:.1f} | {leak} | {row.empty} | {row.per_second:.1f} |")
    ours, default = summarise(results, "ours"), summarise(results, "default")
    verdict = (ours.micro_p > default.micro_p and ours.macro_p > default.macro_p
               and default.micro_r - ours.micro_r <= 0.02 and default.macro_r - ours.macro_r <= 0.02)
    lines.append("")
    lines.append(f"precision: ours {100 * ours.micro_p:.1f} / {100 * ours.macro_p:.1f} vs default "
                 f"{100 * default.micro_p:.1f} / {100 * default.macro_p:.1f} (micro / macro); recall change "
                 f"{100 * (ours.micro_r - default.micro_r):+.1f} / {100 * (ours.macro_r - default.macro_r):+.1f} points")
    lines.append(f"acceptance (higher precision, at most 2 points of recall lost): {'PASS' if verdict else 'FAIL'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS,
                        help=f"folder with <set>/gold.json (default: {DEFAULT_CORPUS})")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages (a quick look)")
    parser.add_argument("--json", type=Path, help="also write per-page results here")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus} (pass the folder that holds <set>/gold.json)", file=sys.stderr)
        return 2
    pages = load_pages(args.corpus)
    if args.limit:
        pages = pages[: args.limit]
    if not pages:
        print(f"no pages with gold main text under {args.corpus}", file=sys.stderr)
        return 2
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        results = list(pool.map(score_page, *zip(*pages), chunksize=4))
    print(f"{len(results)} pages from {args.corpus} in {time.monotonic() - started:.0f} s "
          f"(pages/s is per core, CPU time of the extractor call alone)\n")
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
