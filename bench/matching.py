"""Throughput of the watchlist matcher for 10, 1,000 and 10,000 terms against one big regex.

Run:  .venv/bin/python bench/matching.py [--mb 1.2] [--seconds 3]   (about 40 s)

The acceptance goals (issue): at 1,000 terms the matcher is at least 10x faster
than Python ``re`` with one word-bounded, IGNORECASE alternation over the same
terms on the same folded text, and 10,000 terms are at most 2x slower than 10.

The corpus is the four seeds plus generated Czech-like and Ukrainian-like
articles (Zipf-distributed pseudo-words with inflection-like endings, and a
seed paragraph in some articles so the real terms hit). Terms are 10 real ones
(the shipped watchlists' core) plus synthetic pseudo-words, prefixes, phrases,
hyphenated words and acronyms in the mix of a real watchlist, 100 per watchlist,
leaving out terms that would hit the 100 most frequent stems (nobody watches
for "the"). Dictionary loading is timed apart; "cold" is the first pass with an
empty token memo, "warm" the steady state of a long-running service.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.schema import Watchlist  # noqa: E402
from pipelines.matching import Matcher  # noqa: E402
from pipelines.matching.lemmas import warm_up  # noqa: E402
from pipelines.matching.normalize import fold  # noqa: E402

SIZES = (10, 1_000, 10_000)
TERMS_PER_WATCHLIST = 100
CORE_TERMS = [
    ("cs", "Korea"), ("cs", "korej*"), ("cs", "KLDR"), ("cs", "Severoatlantická aliance"), ("cs", "indo-pacif*"),
    ("uk", "Корея"), ("uk", "Сеул"), ("uk", "КНДР"), ("any", "NATO"), ("any", "НАТО"),
]

SYLLABLES = {
    "cs": (
        ["", "b", "c", "č", "d", "h", "ch", "j", "k", "l", "m", "n", "p", "r", "ř", "s", "š", "t", "v", "z", "ž",
         "st", "pr", "kr", "tr", "sk", "zn", "př", "sl", "dr"],
        ["a", "e", "i", "o", "u", "á", "é", "í", "ý", "ů", "ou", "ě"],
        ["", "", "", "n", "k", "t", "s", "l", "m", "st"],
        ["", "a", "y", "u", "ou", "em", "ého", "ému", "ých", "ými", "ní", "ost", "ci", "ský", "ská"],
    ),
    "uk": (
        ["", "б", "в", "г", "д", "ж", "з", "к", "л", "м", "н", "п", "р", "с", "т", "ф", "х", "ц", "ч", "ш",
         "ст", "пр", "кр", "тр", "ск", "зн", "сл", "др"],
        ["а", "е", "и", "і", "о", "у", "я", "ю", "є", "ї"],
        ["", "", "н", "к", "т", "с", "л", "м", "й"],
        ["", "а", "и", "у", "ом", "ого", "ому", "их", "ими", "ння", "ість", "ський", "ська", "ів"],
    ),
}
_GAP = r"[\s\-\u2010-\u2015]+"


@dataclass(frozen=True)
class Article:
    title: str
    text: str
    language: str
    folded: str  # title + text folded once, for the regex baseline
    size: int  # UTF-8 bytes of title + text


class PseudoLanguage:
    """Words that look and inflect roughly like Czech or Ukrainian, without any dictionary."""

    def __init__(self, language: str, rng: random.Random) -> None:
        self.language = language
        self.onsets, self.vowels, self.codas, self.endings = SYLLABLES[language]
        self.rng = rng

    def stem(self) -> str:
        return "".join(
            self.rng.choice(self.onsets) + self.rng.choice(self.vowels) + self.rng.choice(self.codas)
            for _ in range(self.rng.choice((1, 2, 2, 3)))
        )

    def word(self, stem: str) -> str:
        return stem + self.rng.choice(self.endings)


@dataclass(frozen=True)
class Vocabulary:
    """A pseudo-language's stems ranked by frequency (Zipf), as a news corpus has them."""

    pseudo: PseudoLanguage
    stems: list[str]
    weights: list[float]
    #: The 100 most frequent stems, folded. Analysts do not keep terms that hit everyday
    #: words (they would alert on every article), so synthetic terms avoid them too.
    common: list[str]


def vocabularies(rng: random.Random) -> dict[str, Vocabulary]:
    result = {}
    for language in ("cs", "uk"):
        pseudo = PseudoLanguage(language, rng)
        stems = [pseudo.stem() for _ in range(15_000)]
        weights = [1 / (rank + 1) ** 1.05 for rank in range(len(stems))]
        result[language] = Vocabulary(pseudo, stems, weights, [fold(stem) for stem in stems[:100]])
    return result


def generate_articles(megabytes: float, seed_texts: list[tuple[str, str]], vocabulary: dict[str, Vocabulary],
                      rng: random.Random) -> list[tuple[str, str, str]]:
    """(title, text, language) triples of 2-5 KB until ``megabytes`` of UTF-8 text exist."""
    paragraphs = {lang: [p for text, l in seed_texts if l == lang for p in text.split("\n") if len(p) > 80]
                  for lang in ("cs", "uk")}
    articles, total = [], 0
    while total < megabytes * 1_000_000:
        language = rng.choice(("cs", "uk"))
        v = vocabulary[language]
        words = [v.pseudo.word(s) for s in rng.choices(v.stems, v.weights, k=rng.randint(300, 700))]
        sentences = [" ".join(words[i:i + 12]).capitalize() + "." for i in range(0, len(words), 12)]
        if rng.random() < 0.3:
            sentences.insert(rng.randrange(len(sentences)), rng.choice(paragraphs[language]))
        text = "\n\n".join(" ".join(sentences[i:i + 5]) for i in range(0, len(sentences), 5))
        title = " ".join(words[:8]).capitalize()
        articles.append((title, text, language))
        total += len((title + text).encode())
    return articles


def synthetic_terms(count: int, vocabulary: dict[str, Vocabulary], rng: random.Random) -> list[tuple[str, str]]:
    """(language, term) pairs in a real watchlist's mix: words, prefixes, phrases, hyphens, acronyms.

    Stems come from the same syllables as the text but from a fresh draw, so a
    term hits when it happens to coincide with text words, as names do.
    """
    letters = {"cs": "ABCDEFGHJKLMNPRSTUVZ", "uk": "АБВГДЗКЛМНПРСТУФ"}
    terms: list[tuple[str, str]] = []
    seen = set()
    while len(terms) < count:
        language = rng.choice(("cs", "uk"))
        p = vocabulary[language].pseudo
        kind = rng.random()
        if kind < 0.50:
            term = p.word(p.stem()).capitalize()
        elif kind < 0.72:
            term = (p.stem() + p.stem())[:rng.randint(5, 9)] + "*"
        elif kind < 0.87:
            term = f"{p.word(p.stem())} {p.word(p.stem())}"
        elif kind < 0.95:
            term = f"{p.stem()}-{p.stem()}{'*' if rng.random() < 0.5 else ''}"
        else:
            term = "".join(rng.choice(letters[language]) for _ in range(rng.randint(3, 4)))
        words = [fold(w.rstrip("*")) for w in term.split()]
        common = any(c.startswith(w) or w.startswith(c) for w in words for c in vocabulary[language].common)
        if len(term.rstrip("*")) >= 3 and not common and fold(term) not in seen:
            seen.add(fold(term))
            terms.append((language, term))
    return terms


def watchlists_for(terms: list[tuple[str, str]]) -> list[Watchlist]:
    return [
        Watchlist.model_validate({"id": f"bench-{i // TERMS_PER_WATCHLIST}", "any": [{"term": t, "lang": lang} for lang, t in terms[i:i + TERMS_PER_WATCHLIST]]})
        for i in range(0, len(terms), TERMS_PER_WATCHLIST)
    ]


def baseline_regex(terms: list[tuple[str, str]]) -> re.Pattern[str]:
    """One alternation, word-bounded, IGNORECASE, over folded terms: the obvious way to do it."""
    alternatives = []
    for _, term in terms:
        words = []
        for word in term.split():
            parts = [re.escape(fold(p)) for p in re.split(r"[-\u2010-\u2015]", word.rstrip("*"))]
            pattern = _GAP.join(parts) if len(parts) == 1 else f"(?:{_GAP.join(parts)}|{''.join(parts)})"
            words.append(pattern + (r"\w*" if word.endswith("*") else ""))
        alternatives.append(_GAP.join(words))
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


def fold_text(text: str, table: dict[int, str]) -> str:
    """Fold a whole text with a per-character table, as a regex pipeline would have to."""
    for char in set(text) - {chr(c) for c in table}:
        table[ord(char)] = fold(char)
    return text.translate(table)


def regex_throughput(articles: list[Article], seconds: float, pattern: re.Pattern[str]) -> float:
    """MB/s over as many articles as fit in ``seconds`` (one pass at 10,000 terms would take minutes)."""
    done_bytes, start = 0, time.perf_counter()
    for n, article in enumerate(_cycle(articles)):
        for _ in pattern.finditer(article.folded):
            pass
        done_bytes += article.size
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 20:
            return done_bytes / 1e6 / elapsed
    raise AssertionError("unreachable")


def _cycle(articles: list[Article]) -> Iterator[Article]:
    while True:
        yield from articles


@dataclass
class Measurement:
    """One term count: its matcher, and what the timed passes found."""

    size: int
    terms: list[tuple[str, str]]
    matcher: Matcher
    compile_s: float
    cold_s: float = 0.0
    warm_s: list[float] = field(default_factory=list)
    hits: int = 0
    regex_mbs: float = 0.0

    def one_pass(self, articles: list[Article]) -> float:
        start = time.perf_counter()
        self.hits = sum(
            len(result.hits)
            for article in articles
            for result in self.matcher.match(article.title, article.text, article.language).values()
        )
        return time.perf_counter() - start


def measure(articles: list[Article], terms: list[tuple[str, str]], seconds: float) -> list[Measurement]:
    """Compile and cold-pass each size, then warm passes taken in turns across the sizes.

    Taking turns means a burst of load from other processes on a shared machine
    slows every size alike instead of whichever happened to be running.
    """
    rows = []
    for size in SIZES:
        started = time.perf_counter()
        matcher = Matcher(watchlists_for(terms[:size]))
        rows.append(Measurement(size, terms[:size], matcher, time.perf_counter() - started))
        rows[-1].cold_s = rows[-1].one_pass(articles)
    deadline = time.perf_counter() + seconds * len(rows)
    while min(len(row.warm_s) for row in rows) < 3 or time.perf_counter() < deadline:
        for row in rows:
            row.warm_s.append(row.one_pass(articles))
    for row in rows:
        row.regex_mbs = regex_throughput(articles, seconds, baseline_regex(row.terms))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1.2, help="MB of article text (UTF-8), at least 1")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget per term count")
    args = parser.parse_args()
    rng = random.Random(20241128)

    started = time.perf_counter()
    warm_up(("cs", "uk", "en"))
    print(f"dictionary loading (simplemma cs/uk/en + pymorphy3 uk, once per process): {time.perf_counter() - started:.2f} s")

    seeds = [(p.read_text(encoding="utf-8"), "uk" if p.name.startswith("004") else "cs")
             for p in sorted((ROOT / "seeds" / "originals").glob("*.txt"))]
    vocabulary = vocabularies(rng)
    raw = [("", text, lang) for text, lang in seeds] + generate_articles(args.mb, seeds, vocabulary, rng)
    rng.shuffle(raw)
    table: dict[int, str] = {}
    articles = [Article(t, x, lang, fold_text(t + "\n" + x, table), len((t + x).encode())) for t, x, lang in raw]
    total_mb = sum(a.size for a in articles) / 1e6
    print(f"corpus: {len(articles)} articles, {total_mb:.2f} MB UTF-8 "
          f"({sum(a.language == 'cs' for a in articles)} cs, {sum(a.language == 'uk' for a in articles)} uk)\n")

    terms = CORE_TERMS + synthetic_terms(SIZES[-1] - len(CORE_TERMS), vocabulary, rng)
    rows = measure(articles, terms, args.seconds)

    print(f"{'terms':>7} {'compile s':>9} {'cold MB/s':>9} {'warm MB/s':>9} {'median':>7} {'ms/article':>10} "
          f"{'re MB/s':>8} {'vs re':>7} {'hits/pass':>9}")
    for row in rows:
        best, median = min(row.warm_s), statistics.median(row.warm_s)
        print(f"{row.size:>7,} {row.compile_s:>9.2f} {total_mb / row.cold_s:>9.2f} {total_mb / best:>9.1f} "
              f"{total_mb / median:>7.1f} {best * 1000 / len(articles):>10.3f} {row.regex_mbs:>8.2f} "
              f"{total_mb / best / row.regex_mbs:>6.1f}x {row.hits:>9,}")
    print("cold = first pass of a new matcher; the 10-term row also fills the process-wide lemma memo")
    print(f"warm = fastest of {len(rows[0].warm_s)} whole passes per size, taken in turns; median = median pass; "
          "re = mean over the time budget")
    warm = {row.size: total_mb / min(row.warm_s) for row in rows}
    ratio = warm[1_000] / next(row.regex_mbs for row in rows if row.size == 1_000)
    slowdown = warm[10] / warm[10_000]
    print(f"\ngoal 1,000 terms >= 10x re: {ratio:.1f}x  {'OK' if ratio >= 10 else 'MISSED'}")
    print(f"goal 10,000 terms <= 2x slower than 10: {slowdown:.2f}x  {'OK' if slowdown <= 2 else 'MISSED'}")


if __name__ == "__main__":
    main()
