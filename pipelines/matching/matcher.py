"""Match one article against every watchlist at once and decide which ones alert.

All watchlists share one :class:`TermIndex`, so an article is tokenised and
looked up once however many watchlists and terms there are. What a token
matches is memoised per distinct token and article language: a warm matcher
does, per token, one dict lookup done in C, and Python-level work only for the
few tokens that hit something.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any, Literal, NamedTuple

from config.schema import LANGUAGES, Watchlist
from pipelines.matching.compiler import TermIndex
from pipelines.matching.normalize import Tokenized, is_phrase_gap, mask_urls

Field = Literal["title", "text"]
Kind = Literal["strong", "weak"]

# Distinct tokens remembered per article language: a bound on memory (tens of MB
# when full) for a service that runs for months; past it the memo starts afresh.
_MEMO_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class Hit:
    """One counted mention: ``surface`` is ``title``/``text`` sliced at ``start:end``."""

    term: str
    surface: str
    field: Field
    start: int
    end: int
    kind: Kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "surface": self.surface,
            "field": self.field,
            "start": self.start,
            "end": self.end,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Why a watchlist alerted: weighted score and the hits that made it (title first)."""

    watchlist_id: str
    score: float
    hits: list[Hit]

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "hits": [hit.to_dict() for hit in self.hits]}


class _Candidate(NamedTuple):
    watchlist: int
    term: int
    field: Field
    start: int
    end: int
    first: int
    last: int


#: Per variant a token can begin: (watchlist, term, variant, number of tokens in the variant).
_Start = tuple[int, int, int, int]


class _TokenMemo:
    """What each distinct token matched, for one article language.

    ``starts`` holds the variants a token can begin (empty tuple = nothing,
    which ``compress`` skips in C); ``units`` every position it can fill, for
    checking the later words of a phrase, and only for tokens that fill any.
    """

    __slots__ = ("starts", "units")

    def __init__(self) -> None:
        self.starts: dict[str, tuple[_Start, ...]] = {}
        self.units: dict[str, tuple[int, ...]] = {}


@dataclass(frozen=True, slots=True)
class _Policy:
    """A watchlist's decision rules as plain values, so deciding does not walk pydantic models."""

    id: str
    languages: frozenset[str]
    groups: int
    #: Has ``ignore``, ``none`` or ``all`` terms, i.e. candidates need more than counting.
    filtered: bool
    min_hits: float
    min_terms: int
    weights: dict[str, float]

    @classmethod
    def of(cls, watchlist: Watchlist) -> _Policy:
        return cls(
            id=watchlist.id,
            languages=frozenset(watchlist.languages),
            groups=len(watchlist.all),
            filtered=bool(watchlist.ignore or watchlist.none or watchlist.all),
            min_hits=watchlist.alert.min_hits,
            min_terms=watchlist.alert.min_terms,
            weights={"title": watchlist.weights.title, "text": watchlist.weights.text},
        )


class Matcher:
    """Compiled watchlists; build once, share between threads, ``match`` many articles.

    Disabled watchlists are left out. Pickling carries the compiled index but
    not the token memo, which a child process rebuilds as it reads.
    """

    def __init__(self, watchlists: Sequence[Watchlist]) -> None:
        enabled = [w for w in watchlists if w.enabled]
        self._policies = tuple(_Policy.of(w) for w in enabled)
        self._index = TermIndex(enabled)
        self._memos: dict[str | None, _TokenMemo] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"policies": self._policies, "index": self._index}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._policies = state["policies"]
        self._index = state["index"]
        self._memos = {}

    def match(self, title: str, text: str, language: str | None) -> dict[str, MatchResult]:
        """Watchlists the article satisfies, by id; ``language`` None means unknown (all terms apply)."""
        language = _article_language(language)
        if language is not None and language not in LANGUAGES:
            return {}
        fields: dict[Field, str] = {"title": title or "", "text": text or ""}
        by_watchlist: dict[int, list[_Candidate]] = defaultdict(list)
        for field, raw in fields.items():
            for candidate in self._scan(field, raw, language):
                by_watchlist[candidate.watchlist].append(candidate)
        results = {}
        # Only watchlists with candidates are looked at: a watchlist nothing hit cannot alert.
        for w in sorted(by_watchlist):
            policy = self._policies[w]
            # A watchlist's languages exclude an article only when its language is known.
            if language is None or language in policy.languages:
                result = self._decide(policy, by_watchlist[w], fields)
                if result is not None:
                    results[policy.id] = result
        return results

    # ------------------------------------------------------------------ finding

    def _scan(self, field: Field, raw: str, language: str | None) -> list[_Candidate]:
        tokenized = Tokenized(mask_urls(raw))
        tokens = tokenized.tokens
        memo = self._memo(language, tokens)
        starts = list(map(memo.starts.__getitem__, tokens))
        found: list[tuple[int, int, int, int]] = []
        for i in compress(range(len(starts)), starts):
            for watchlist, term, variant, length in starts[i]:
                last = i if length == 1 else self._phrase_end(variant, i, memo, tokenized)
                if last is not None:
                    found.append((watchlist, term, i, last))
        if not found:
            return []
        spans = tokenized.spans([(first, last) for _, _, first, last in found])
        return [
            _Candidate(watchlist, term, field, start, end, first, last)
            for (watchlist, term, first, last), (start, end) in zip(found, spans)
        ]

    def _memo(self, language: str | None, tokens: list[str]) -> _TokenMemo:
        """The memo for this language, holding at least ``tokens``.

        A full memo is replaced rather than cleared, so another thread still
        reading the old one never misses a key it has just put there.
        """
        memo = self._memos.get(language)
        if memo is None:
            memo = self._memos.setdefault(language, _TokenMemo())
        missing = set(tokens).difference(memo.starts)
        if missing:
            if len(memo.starts) + len(missing) > _MEMO_LIMIT:
                memo = _TokenMemo()
                self._memos[language] = memo
                missing = set(tokens)
            for token in missing:
                units = self._index.units_for(token, language)
                if units:
                    memo.units[token] = units
                memo.starts[token] = self._starts(units)
        return memo

    def _starts(self, units: tuple[int, ...]) -> tuple[_Start, ...]:
        """Everything the scan needs about the variants a token begins, resolved once per token."""
        index = self._index
        starts = []
        for unit in units:
            if index.unit_position[unit] == 0:
                variant = index.unit_variant[unit]
                term = index.variant_term[variant]
                starts.append((index.terms[term].watchlist, term, variant, len(index.variant_units[variant])))
        return tuple(starts)

    def _phrase_end(self, variant: int, first: int, memo: _TokenMemo, tokenized: Tokenized) -> int | None:
        """Index of the last token if the whole phrase ``variant`` starts at token ``first``."""
        units = self._index.variant_units[variant]
        tokens = tokenized.tokens
        last = first + len(units) - 1
        if last >= len(tokens):
            return None
        for position in range(first + 1, last + 1):
            if units[position - first] not in memo.units.get(tokens[position], ()):
                return None
            if not is_phrase_gap(tokenized.gap_after(position - 1)):
                return None
        return last

    # ------------------------------------------------------------------ deciding

    def _decide(self, policy: _Policy, candidates: list[_Candidate], fields: dict[Field, str]) -> MatchResult | None:
        """The watchlist's result, or None if it is vetoed, lacks context or stays under its thresholds."""
        if policy.filtered:
            filtered = self._apply_filters(policy, candidates)
            if filtered is None:
                return None
            candidates = filtered
        counted = candidates if len(candidates) == 1 else self._deduplicate(candidates)
        terms = self._index.terms
        weights = policy.weights
        strong, score, distinct = False, 0.0, set()
        for candidate in counted:
            term = terms[candidate.term]
            strong = strong or term.role == "any"
            score += weights[candidate.field] * term.term.weight
            distinct.add(term.term.term)
        if not strong or score < policy.min_hits or len(distinct) < policy.min_terms:
            return None
        counted = sorted(counted, key=lambda c: (c.field != "title", c.start))
        return MatchResult(policy.id, score, [self._hit(c, fields[c.field]) for c in counted])

    def _apply_filters(self, policy: _Policy, candidates: list[_Candidate]) -> list[_Candidate] | None:
        """Drop ignored spans, then None if a ``none`` term vetoes or an ``all`` group is missing."""
        terms = self._index.terms
        ignored = [c for c in candidates if terms[c.term].role == "ignore"]
        live = [c for c in candidates if terms[c.term].role != "ignore" and not _masked(c, ignored)]
        if any(terms[c.term].role == "none" for c in live):
            return None
        groups_seen = {terms[c.term].group for c in live if terms[c.term].role == "all"}
        if len(groups_seen) < policy.groups:
            return None
        return [c for c in live if terms[c.term].role in ("any", "weak")]

    def _deduplicate(self, candidates: list[_Candidate]) -> list[_Candidate]:
        """Overlapping hits count once: the longest wins, then strong over weak, then YAML order."""
        terms = self._index.terms
        ordered = sorted(candidates, key=lambda c: (c.start - c.end, terms[c.term].role != "any", c.term, c.field, c.start))
        taken: set[tuple[str, int]] = set()
        kept = []
        for candidate in ordered:
            cells = [(candidate.field, t) for t in range(candidate.first, candidate.last + 1)]
            if taken.isdisjoint(cells):
                taken.update(cells)
                kept.append(candidate)
        return kept

    def _hit(self, candidate: _Candidate, raw: str) -> Hit:
        term = self._index.terms[candidate.term]
        return Hit(
            term=term.term.term,
            surface=raw[candidate.start:candidate.end],
            field=candidate.field,
            start=candidate.start,
            end=candidate.end,
            kind="strong" if term.role == "any" else "weak",
        )


def _masked(candidate: _Candidate, ignored: list[_Candidate]) -> bool:
    return any(i.field == candidate.field and i.start < candidate.end and candidate.start < i.end for i in ignored)


def _article_language(language: str | None) -> str | None:
    """``"cs-CZ"`` → ``"cs"``; empty → None (unknown). Other languages stay as given and match nothing."""
    if not language:
        return None
    code = language.strip().lower().replace("_", "-").split("-")[0]
    return code or None
