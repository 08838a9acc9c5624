"""Base forms of words: simplemma for cs/uk/en, plus every pymorphy3 parse for Ukrainian.

Analysts write ``Korea`` or ``Сеул`` and expect ``Koreou`` and ``Сеулу`` to count,
so both sides of a comparison are reduced to folded lemmas. The dictionaries
take seconds and tens of MB to load: they are loaded lazily, once per process,
and every answer is memoised per (language, word).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

import simplemma

from pipelines.matching.normalize import fold, is_cyrillic

if TYPE_CHECKING:
    from pymorphy3 import MorphAnalyzer

LANGUAGES = ("cs", "uk", "en")
_LATIN_LANGUAGES = ("cs", "en")
_MEMO_LIMIT = 300_000

_analyzer_lock = threading.Lock()
_analyzer: MorphAnalyzer | None = None
# Values are tuples, not sets: tuples of strings drop out of the garbage collector's
# bookkeeping, and this memo holds one entry per distinct word ever seen.
_memo: dict[tuple[str, str], tuple[str, ...]] = {}


def languages_for(word: str, language: str | None) -> tuple[str, ...]:
    """Which dictionaries can say something about ``word`` in an article of ``language``.

    The article language wins when the word is in its script; otherwise the
    script decides (a Cyrillic quote in a Czech article is lemmatised as
    Ukrainian), and with no language every dictionary of that script is used.
    """
    if is_cyrillic(word):
        return ("uk",)
    if language in _LATIN_LANGUAGES:
        return (language,)
    return _LATIN_LANGUAGES


def lemma_keys(word: str, language: str) -> tuple[str, ...]:
    """Folded base forms of ``word`` (spelt as :func:`normalize.clean` returns it) in ``language``."""
    key = (language, word)
    found = _memo.get(key)
    if found is None:
        found = tuple(sorted({fold(lemma) for lemma in _lemmas(word, language)}))
        _remember(key, found)
    return found


def warm_up(languages: Iterable[str] = LANGUAGES) -> None:
    """Load the dictionaries now, e.g. before a benchmark or at service start."""
    for language in languages:
        lemma_keys("warm-up", language)
        if language == "uk":
            _morph_analyzer()


def _remember(key: tuple[str, str], value: tuple[str, ...]) -> None:
    # A full memo is replaced, never cleared in place: a thread that is reading
    # the old dict keeps a consistent view of it.
    global _memo
    memo = _memo
    if len(memo) >= _MEMO_LIMIT:
        memo = {}
        _memo = memo
    memo[key] = value


def _lemmas(word: str, language: str) -> set[str]:
    # simplemma answers differently for "Natovské" (unknown) and "natovské" (natovský):
    # asking with both spellings costs little and recovers sentence-initial words.
    found = {simplemma.lemmatize(word, lang=language), simplemma.lemmatize(word.lower(), lang=language)}
    if language == "uk":
        found.update(parse.normal_form for parse in _morph_analyzer().parse(word))
    return found


def _morph_analyzer() -> MorphAnalyzer:
    """Imported and built on first use: 0.1 s and ~15 MB that cs/en-only processes never pay."""
    global _analyzer
    if _analyzer is None:
        with _analyzer_lock:
            if _analyzer is None:
                import pymorphy3

                _analyzer = pymorphy3.MorphAnalyzer(lang="uk")
    return _analyzer
