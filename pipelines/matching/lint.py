"""Warnings about terms that are valid YAML but will not do what the analyst meant.

The schema refuses what cannot be read; this catches what reads fine and then
silently matches nothing or far too much. ``hlidka check`` plugs it in as a
``WatchlistLinter``, so it must be fast and need no dictionaries.
"""

from __future__ import annotations

from collections import defaultdict

from config.schema import Term, Watchlist
from pipelines.matching.compiler import TermWord, parse_term, watchlist_terms
from pipelines.matching.normalize import fold, is_cyrillic

#: Prefixes with fewer letters match unrelated words: soul* → soulad, nato* → natolik.
MIN_PREFIX_LETTERS = 5


def lint_watchlist(watchlist: Watchlist) -> list[str]:
    """Human-readable warnings, one per problem, naming the key and the term."""
    warnings: list[str] = []
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for role, group, term in watchlist_terms(watchlist):
        where = f"{role}[{group}]" if role == "all" else role
        label = f"{where}: '{term.term}'"
        warnings.extend(f"{label} {problem}" for problem in _term_problems(term))
        seen[(fold(term.term), term.lang)].append(where)
    for (text, lang), places in seen.items():
        if len(places) > 1:
            scope = "" if lang == "any" else f" (lang {lang})"
            warnings.append(f"'{text}'{scope} is listed {len(places)} times: {', '.join(places)}")
    return warnings


def _term_problems(term: Term) -> list[str]:
    words = parse_term(term.term)
    letters = "".join(fold(part) for word in words for part in word.parts)
    if not letters:
        return ["normalises to nothing (no letters or digits), it can never match"]
    if len(letters) == 1:
        return [f"normalises to the single character '{letters}', it would match almost anything"]
    problems = []
    if len(words) == 1 and words[0].prefix and sum(c.isalpha() for c in letters) < MIN_PREFIX_LETTERS:
        problems.append(
            f"is a prefix of fewer than {MIN_PREFIX_LETTERS} letters and will match unrelated words; "
            "prefer a base form (inflected forms match anyway) or a longer prefix"
        )
    punctuation = "".join(word.punctuation for word in words)
    if punctuation:
        problems.append(f"contains '{punctuation}', which the text tokenizer drops, so it can never match")
    problems.extend(_script_problems(term, words))
    return problems


def _script_problems(term: Term, words: list[TermWord]) -> list[str]:
    cyrillic = is_cyrillic(term.term)
    if cyrillic and term.lang in ("cs", "en"):
        return [f"is written in Cyrillic but applies only to '{term.lang}' articles, which are in Latin script"]
    latin = any(c.isalpha() and not is_cyrillic(c) for c in term.term)
    if latin and term.lang == "uk" and not all(word.acronym for word in words):
        return ["is written in Latin script but applies only to 'uk' articles; write it in Cyrillic or put it under any:"]
    return []
