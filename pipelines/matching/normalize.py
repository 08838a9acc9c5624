"""Tokens with offsets, URL masking and the folding that makes tokens comparable.

The matcher never rewrites an article. It tokenises the original text (URLs are
masked in place, keeping the length) so that every hit maps back to the exact
characters an analyst will see; only the tokens are folded, once per distinct
token, because news text repeats its words.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Apostrophes seen inside Ukrainian words (ув’язнений, ув'язнений, увʼязнений).
APOSTROPHES = "'’ʼ‘"

# Combining marks, soft hyphens and zero-width characters are not \w, yet they
# sit inside words (decomposed text, &shy; from HTML); treating them as word
# characters keeps such words whole instead of cutting them in two.
_WORD = r"[\w\u0300-\u036f\u00ad\u200b-\u200d\u2060]"
_TOKEN = re.compile(rf"({_WORD}+(?:[{APOSTROPHES}]{_WORD}+)*)")

# Between the words of a phrase only spaces and hyphens/dashes may stand, so that a
# phrase never matches across a sentence ("… Jižní. Korea …") or a masked URL.
_PHRASE_GAP = re.compile(r"[\s\-\u2010-\u2015\u2212]+")

# A URL, optionally continued on following lines when it was hard-wrapped: a
# continuation line is a single run of URL characters that contains URL
# punctuation or a digit (e.g. "kym-protejskem-254369"), so ordinary prose
# after a URL is never swallowed.
_URL = re.compile(
    r"""(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>"]+"""
    r"""(?:\n(?=[^\s<>"]*[-/_.=?&%#0-9])[^\s<>"]+(?=[ \t]*(?:\n|$)))*"""
)

#: Character written over URLs; it is neither a word character nor a phrase gap.
URL_MASK = "·"

_DROP_AND_UNIFY = str.maketrans(
    {"’": "'", "ʼ": "'", "‘": "'", "\u00ad": None, "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None}
)


def mask_urls(text: str) -> str:
    """Overwrite URLs with :data:`URL_MASK` so slugs (…-jihokorejskym-…) never hit.

    The length is preserved, so offsets into the masked text are offsets into
    the original text.
    """
    if "://" not in text and "www." not in text:
        return text
    return _URL.sub(lambda m: re.sub(r"[^\n]", URL_MASK, m.group()), text)


def clean(token: str) -> str:
    """The token as a dictionary would spell it: composed (NFC), without soft hyphens or
    zero-width characters, apostrophes unified to U+0027 (the spelling pymorphy3 knows)."""
    return unicodedata.normalize("NFC", token.translate(_DROP_AND_UNIFY))


@lru_cache(maxsize=4096)
def _is_latin(char: str) -> bool:
    return unicodedata.name(char, "").startswith("LATIN")


def _fold_slowly(text: str) -> str:
    kept: list[str] = []
    base_is_latin = False
    for char in unicodedata.normalize("NFKD", text.translate(_DROP_AND_UNIFY)):
        if unicodedata.combining(char):
            if base_is_latin:
                continue
        else:
            base_is_latin = _is_latin(char)
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept)).casefold()


class _FoldTable(dict[int, str]):
    """Per-character folds, filled on first sight; ``str.translate`` looks them up in C."""

    def __missing__(self, codepoint: int) -> str:
        folded = self[codepoint] = _fold_slowly(chr(codepoint))
        return folded


_FOLD_TABLE = _FoldTable()
_COMBINING = re.compile("[\u0300-\u036f]")
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def fold(text: str) -> str:
    """Case- and diacritics-insensitive form: ``Severní`` → ``severni``, ``Кореї`` stays ``кореї``.

    Marks are dropped only after a Latin base letter: stripping Cyrillic marks
    would turn й into и and ї into і and merge different Ukrainian words.
    Precomposed text (nearly all text) folds character by character through a
    table; a separate combining mark needs its base, so such text takes the
    slow path.
    """
    if text.isascii():
        return text.lower()
    if _COMBINING.search(text):
        return _fold_slowly(text)
    return text.translate(_FOLD_TABLE)


def strip_possessive(token: str) -> str:
    """``NATO's`` → ``NATO``: English glues the possessive to the word it modifies."""
    if len(token) > 2 and token[-1] in "sS" and token[-2] in APOSTROPHES:
        return token[:-2]
    return token


def is_cyrillic(text: str) -> bool:
    return _CYRILLIC.search(text) is not None


def is_phrase_gap(gap: str) -> bool:
    """True if the text between two tokens may separate the words of a phrase."""
    return _PHRASE_GAP.fullmatch(gap) is not None


class Tokenized:
    """A text cut into alternating gaps and tokens; character offsets only on demand.

    ``re.split`` runs in C, and so does summing part lengths: offsets are
    computed only up to the tokens that hit something, as most articles have
    no hits at all and walking match objects in Python would cost more than the
    whole lookup of a document's tokens.
    """

    __slots__ = ("_parts", "tokens")

    def __init__(self, text: str) -> None:
        self._parts: list[str] = _TOKEN.split(text)
        self.tokens: list[str] = self._parts[1::2]

    def spans(self, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Character spans of token ranges given as (first token, last token), in one forward sweep."""
        parts = self._parts
        boundaries = sorted({2 * first + 1 for first, _ in ranges} | {2 * last + 2 for _, last in ranges})
        offset_of: dict[int, int] = {}
        offset = done = 0
        for boundary in boundaries:
            offset += sum(map(len, parts[done:boundary]))
            offset_of[boundary] = offset
            done = boundary
        return [(offset_of[2 * first + 1], offset_of[2 * last + 2]) for first, last in ranges]

    def gap_after(self, index: int) -> str:
        return self._parts[2 * index + 2]

    def gaps(self) -> list[str]:
        """Everything that is not a token: before the first, between, and after the last."""
        return self._parts[0::2]
