"""Decide an article's language from what the page declares, what the source expects, and the text.

The language selects the lemmatiser and the watchlist terms, so a wrong code
silently costs matches. Declarations are trusted first (they are cheap and
usually right) but not blindly: Common Crawl-era Czech and Ukrainian pages
declare ``cz``, ``ua`` or the wrong language altogether, and a Russian
edition of a Ukrainian site may still say ``uk``. A declaration that the
script of the text contradicts is ignored.
"""

from __future__ import annotations

import re

import simplemma

CYRILLIC_LANGUAGES = frozenset({"uk", "ru", "bg", "sr", "mk", "be", "kk", "ky", "mn", "tg"})
#: simplemma candidates for Latin-script text that declares nothing: only the languages Hlídka
#: matches in, because every dictionary costs each extraction worker 0.5–10 s to load (Polish ~11 s).
LATIN_CANDIDATES = ("cs", "en")
#: Below this share of known words the text is in some other language: better None than a wrong code.
MIN_DETECTION_SCORE = 0.3
#: Codes people write instead of the ISO 639-1 ones.
_MISTAKEN_CODES = {"cz": "cs", "ua": "uk", "ukr": "uk", "ces": "cs", "cze": "cs", "eng": "en", "rus": "ru"}
_SAMPLE_CHARS = 3000
_LETTER_EVIDENCE = 3

_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")
_UKRAINIAN_ONLY = re.compile(r"[іїєґІЇЄҐ]")
_RUSSIAN_ONLY = re.compile(r"[ыэёъЫЭЁЪ]")


def normalise_code(value: str | None) -> str | None:
    """``cs-CZ``, ``uk_UA``, ``UA`` → ``cs``, ``uk``, ``uk``; None for anything that is not a code."""
    if not value:
        return None
    primary = re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0]
    primary = _MISTAKEN_CODES.get(primary, primary)
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None


def _script(sample: str) -> str | None:
    cyrillic, latin = len(_CYRILLIC.findall(sample)), len(_LATIN.findall(sample))
    if cyrillic + latin == 0:
        return None
    return "cyrillic" if cyrillic > latin else "latin"


def _fits(code: str, script: str | None, sample: str) -> bool:
    if script is None:
        return True
    if script == "latin":
        return code not in CYRILLIC_LANGUAGES
    if code not in CYRILLIC_LANGUAGES:
        return False
    ukrainian, russian = len(_UKRAINIAN_ONLY.findall(sample)), len(_RUSSIAN_ONLY.findall(sample))
    if code == "uk":
        return not (russian >= _LETTER_EVIDENCE and ukrainian == 0)
    if code == "ru":
        return not (ukrainian >= _LETTER_EVIDENCE and russian == 0)
    return True


def detect_language(text: str) -> str | None:
    """Letters for Cyrillic (і ї є ґ occur only in Ukrainian, ы э ё ъ only in Russian),
    simplemma's word lists for Latin script; None when the evidence is too thin."""
    sample = text[:_SAMPLE_CHARS]
    script = _script(sample)
    if script == "cyrillic":
        ukrainian, russian = len(_UKRAINIAN_ONLY.findall(sample)), len(_RUSSIAN_ONLY.findall(sample))
        if ukrainian == russian:
            return None
        return "uk" if ukrainian > russian else "ru"
    if script == "latin":
        scores = [(code, score) for code, score in simplemma.langdetect(sample, lang=LATIN_CANDIDATES) if code != "unk"]
        code, score = max(scores, key=lambda item: item[1], default=(None, 0.0))
        return code if score >= MIN_DETECTION_SCORE else None
    return None


def resolve_language(declared: str | None, hint: str | None, text: str) -> str | None:
    """The page's declaration, else the source's hint, else detection; a code the text's script
    contradicts is skipped."""
    sample = text[:_SAMPLE_CHARS]
    script = _script(sample)
    for candidate in (normalise_code(declared), normalise_code(hint)):
        if candidate and _fits(candidate, script, sample):
            return candidate
    return detect_language(text)
