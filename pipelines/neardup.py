"""Fingerprints of a text: an exact hash, and a MinHash for the same story lightly edited or re-headlined.

An article's main text becomes a set of overlapping word n-grams ("shingles")
over folded words, so case, diacritics, punctuation and line breaks do not
count, and that set becomes a MinHash signature: 128 numbers whose share of
equal positions between two articles estimates the Jaccard similarity of their
shingle sets. The title is left out on purpose: a re-headlined copy is the
same story.

Signatures are stored with the article, and the locality-sensitive hashing
(LSH) band keys of each signature go into an indexed table (:mod:`pipelines.stories`),
so every crawl process finds candidates with one indexed query instead of
rebuilding an in-memory index at start (``bench/dedupe.py`` measures both).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from datasketch import MinHash

from pipelines.matching.normalize import fold

#: Words per shingle. Four keeps a changed word from touching more than four shingles
#: while two articles on one topic rarely share four words in a row beyond set phrases.
SHINGLE_WORDS = 4
NUM_PERM = 128
#: LSH banding: BANDS × ROWS signature positions. With 3 rows per band a pair of estimated
#: similarity 0.5 shares a band with probability 0.996, 0.3 with 0.63, 0.1 with 0.04.
BANDS = 42
ROWS = 3
#: datasketch's permutation scheme and seed: stored signatures are only comparable
#: with signatures made the same way, so neither may change without re-signing.
SCHEME = "affine32"
SEED = 20241123

_WORD = re.compile(r"\w+(?:['’]\w+)*")
_HASH_WORD = re.compile(r"\w+")
_BAND = struct.Struct(f"<H{ROWS}I")


def content_hash(title: str, text: str) -> str:
    """Equal for texts that differ only in case, spacing or punctuation (a re-published copy).

    The title counts: pages that share a text but not a headline are usually
    different articles behind the same paywall or consent text, and a copy
    that was only re-headlined is caught as a near duplicate instead.
    """
    words = _HASH_WORD.findall(f"{title}\n{text}".casefold())
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Signature:
    """A MinHash of a text's shingles, and how many distinct shingles it had."""

    hashvalues: np.ndarray
    shingles: int

    def to_bytes(self) -> bytes:
        return self.hashvalues.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, shingles: int) -> Signature:
        return cls(np.frombuffer(data, dtype="<u4").astype(np.uint32), shingles)

    def similarity(self, other: Signature) -> float:
        """Estimated Jaccard similarity of the two shingle sets (0 for an empty text)."""
        if not self.shingles or not other.shingles:
            return 0.0
        return float(np.count_nonzero(self.hashvalues == other.hashvalues)) / NUM_PERM

    @cached_property
    def band_keys(self) -> frozenset[int]:
        """One signed 32-bit key per LSH band: equal keys mean (almost surely) equal rows in that band.

        Cached: a signature made in an extraction worker carries its keys, pickled
        with it, to the crawl process, which looks them up and then stores them.

        32 bits suffice: a chance collision only adds a candidate, which the
        signature comparison then rejects, and at 100,000 indexed articles a
        query meets one such collision in about a thousand.
        """
        keys = set()
        for band in range(BANDS):
            rows = self.hashvalues[band * ROWS:(band + 1) * ROWS]
            digest = hashlib.blake2b(_BAND.pack(band, *(int(v) for v in rows)), digest_size=4).digest()
            keys.add(int.from_bytes(digest, "little", signed=True))
        return frozenset(keys)


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def shingles(text: str) -> set[bytes]:
    """The distinct word n-grams of ``text``; a text shorter than one n-gram is one shingle."""
    tokens = words(text)
    if len(tokens) < SHINGLE_WORDS:
        return {" ".join(tokens).encode("utf-8")} if tokens else set()
    return {" ".join(tokens[i:i + SHINGLE_WORDS]).encode("utf-8") for i in range(len(tokens) - SHINGLE_WORDS + 1)}


@lru_cache(maxsize=1)
def _permutations() -> np.ndarray:
    return MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations


def signature(text: str) -> Signature:
    return signature_of(shingles(text))


def signature_of(shingle_set: Iterable[bytes]) -> Signature:
    values = list(shingle_set)
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME, permutations=_permutations())
    minhash.update_batch(values)
    return Signature(minhash.hashvalues.astype(np.uint32), len(values))
