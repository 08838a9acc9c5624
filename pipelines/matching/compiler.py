"""Turn the terms analysts write into word patterns and hash indexes over folded tokens.

Everything that grows with the number of terms happens here, once per set of
watchlists. A document is later matched by looking each of its *distinct*
tokens up in three dicts (folded form, lemma, every prefix of the token), so
more terms make the index bigger but never the scan of a document slower.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Literal

from config.schema import Term, Watchlist
from pipelines.matching.lemmas import languages_for, lemma_keys
from pipelines.matching.normalize import Tokenized, clean, fold, is_cyrillic, is_phrase_gap, strip_possessive
from pipelines.matching.translit import transliterate

Role = Literal["any", "weak", "all", "none", "ignore"]
PatternKind = Literal["form", "lemma", "prefix"]


@dataclass(frozen=True, slots=True)
class TermWord:
    """One whitespace-separated word of a term as written, cut at hyphens like the text is."""

    parts: tuple[str, ...]
    prefix: bool
    acronym: bool
    #: Characters inside the word that are neither word characters nor hyphens/dashes;
    #: the text tokenizer drops them, so such a word cannot match (``U.S.``).
    punctuation: str


def parse_term(text: str) -> list[TermWord]:
    """Split a term into words and parts with the same tokenizer the articles go through."""
    words = []
    for raw in text.split():
        body = raw.rstrip("*")
        tokenized = Tokenized(body)
        parts = tuple(tokenized.tokens)
        if not parts:
            continue
        punctuation = "".join(dict.fromkeys(c for gap in tokenized.gaps() for c in gap if not is_phrase_gap(c)))
        words.append(TermWord(parts, raw.endswith("*"), _is_acronym(body), punctuation))
    return words


def _is_acronym(word: str) -> bool:
    """``NATO``, ``КНДР``, ``IP4``: two or more characters whose letters are all capitals."""
    letters = [c for c in word if c.isalpha()]
    return len(word) >= 2 and bool(letters) and all(c.isupper() for c in letters)


@dataclass(frozen=True, slots=True)
class WordPattern:
    """What one token must look like to stand at one position of a term."""

    kind: PatternKind
    keys: tuple[str, ...]
    #: Acronyms: the token (possessive removed) must equal, or for a prefix start with, this.
    exact: str | None = None
    #: ``case: true``: the token's first letter must be upper case (True) or lower case (False).
    first_upper: bool | None = None

    def accepts(self, surface: str) -> bool:
        """The case rules, checked once per distinct token after the folded lookup found it."""
        if self.exact is not None:
            token = strip_possessive(clean(surface))
            return token.startswith(self.exact) if self.kind == "prefix" else token == self.exact
        if self.first_upper is not None:
            return surface[:1].isupper() == self.first_upper
        return True


Variant = tuple[WordPattern, ...]


def compile_term(term: Term) -> tuple[Variant, ...]:
    """Every token sequence that counts as the term.

    A hyphenated word yields its parts as consecutive tokens *and* the joined
    form: ``indo-pacif*`` matches ``Indo-Pacifik``, ``Indo Pacifik``,
    ``indo‑pacifické`` and ``indopacifickém``.
    """
    per_word: list[list[Variant]] = []
    for word in parse_term(term.term):
        split = tuple(
            _pattern(part, term, acronym=word.acronym, prefix=word.prefix and i == len(word.parts) - 1)
            for i, part in enumerate(word.parts)
        )
        choices = [split]
        if len(word.parts) > 1:
            choices.append((_pattern("".join(word.parts), term, acronym=word.acronym, prefix=word.prefix),))
        per_word.append(choices)
    return tuple(tuple(p for variant in combo for p in variant) for combo in product(*per_word)) if per_word else ()


def translit_variants(term: Term) -> tuple[Variant, ...]:
    """The romanised spelling of a Cyrillic term, matched as a fixed form (or prefix), case-insensitively.

    Inflection is not applied: a Latin rendering of a Ukrainian ending is not
    a word any lemmatiser knows, so a term that should catch endings is written
    as a prefix (``Умєров*``).
    """
    if not term.translit or not is_cyrillic(term.term):
        return ()
    latin = Term(term=transliterate(term.term), inflect=False, case=False)
    return compile_term(latin)


def _pattern(part: str, term: Term, *, acronym: bool, prefix: bool) -> WordPattern:
    folded = fold(part)
    if acronym and term.case is not False:
        return WordPattern("prefix" if prefix else "form", (folded,), exact=clean(part))
    cased = part[0].isupper() or part[0].islower()  # digits and uncased scripts have no case to check
    first_upper = part[0].isupper() if term.case and cased else None
    if prefix:
        return WordPattern("prefix", (folded,), first_upper=first_upper)
    if not term.inflect:
        return WordPattern("form", (folded,), first_upper=first_upper)
    keys = {folded}
    for language in languages_for(part, None if term.lang == "any" else term.lang):
        keys.update(lemma_keys(clean(part), language))
    return WordPattern("lemma", tuple(sorted(keys)), first_upper=first_upper)


@dataclass(frozen=True, slots=True)
class CompiledTerm:
    """A term with where it came from; its position in the index is its YAML order."""

    term: Term
    watchlist: int
    role: Role
    group: int = 0


def watchlist_terms(watchlist: Watchlist) -> Iterator[tuple[Role, int, Term]]:
    """Every term of a watchlist with its role and (for ``all``) its group number."""
    for term in watchlist.any:
        yield "any", 0, term
    for term in watchlist.weak:
        yield "weak", 0, term
    for group, terms in enumerate(watchlist.all):
        for term in terms:
            yield "all", group, term
    for term in watchlist.none:
        yield "none", 0, term
    for term in watchlist.ignore:
        yield "ignore", 0, term


class TermIndex:
    """Hash indexes from folded token keys to the term positions ("units") they satisfy.

    A unit is one position of one variant of one term. Lookups per token cost
    one dict probe per form or lemma key plus one per prefix length, i.e. they
    depend on the token's length, not on how many terms exist.
    """

    def __init__(self, watchlists: Sequence[Watchlist]) -> None:
        self.terms: list[CompiledTerm] = []
        self.variant_term: list[int] = []
        self.variant_units: list[tuple[int, ...]] = []
        self.unit_variant: list[int] = []
        self.unit_position: list[int] = []
        self._unit_pattern: list[WordPattern] = []
        self._unit_language: list[str] = []
        building: dict[PatternKind, defaultdict[str, list[int]]] = {k: defaultdict(list) for k in ("form", "lemma", "prefix")}
        for w, watchlist in enumerate(watchlists):
            for role, group, term in watchlist_terms(watchlist):
                self._add(CompiledTerm(term, w, role, group), building)
        # Tuples rather than lists: immutable, and invisible to the garbage collector.
        self._indexes: dict[PatternKind, dict[str, tuple[int, ...]]] = {
            kind: {key: tuple(units) for key, units in index.items()} for kind, index in building.items()
        }
        self._prefix_lengths = tuple(sorted({len(key) for key in self._indexes["prefix"]}))

    def _add(self, compiled: CompiledTerm, building: dict[PatternKind, defaultdict[str, list[int]]]) -> None:
        term_id = len(self.terms)
        self.terms.append(compiled)
        native = [(variant, compiled.term.lang) for variant in compile_term(compiled.term)]
        # A romanised Ukrainian name appears in Czech and English articles: it applies in any language.
        romanised = [(variant, "any") for variant in translit_variants(compiled.term)]
        for variant, language in native + romanised:
            variant_id = len(self.variant_term)
            units = []
            for position, pattern in enumerate(variant):
                unit = len(self.unit_variant)
                units.append(unit)
                self.unit_variant.append(variant_id)
                self.unit_position.append(position)
                self._unit_pattern.append(pattern)
                self._unit_language.append(language)
                for key in pattern.keys:
                    building[pattern.kind][key].append(unit)
            self.variant_term.append(term_id)
            self.variant_units.append(tuple(units))

    def units_for(self, surface: str, language: str | None) -> tuple[int, ...]:
        """All units the token ``surface`` satisfies in an article of ``language`` (None = unknown)."""
        folded = fold(surface)
        forms = {folded, strip_possessive(folded)}
        found: list[int] = []
        for key in forms:
            found += self._indexes["form"].get(key, ())
        lemma_index = self._indexes["lemma"]
        if lemma_index:
            keys = set(forms)
            if not folded.isdigit():
                bare = strip_possessive(clean(surface))
                for lang in languages_for(surface, language):
                    keys.update(lemma_keys(bare, lang))
            for key in keys:
                found += lemma_index.get(key, ())
        prefix_index = self._indexes["prefix"]
        for length in self._prefix_lengths:
            if length > len(folded):
                break
            found += prefix_index.get(folded[:length], ())
        return tuple(sorted({unit for unit in found if self._applies(unit, language) and self._unit_pattern[unit].accepts(surface)}))

    def _applies(self, unit: int, language: str | None) -> bool:
        term_language = self._unit_language[unit]
        return term_language == "any" or language is None or term_language == language
