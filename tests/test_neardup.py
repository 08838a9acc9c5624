"""Near-duplicate signatures: the labelled pair set, what does not count as a difference,
and the properties the stored index relies on (stable across processes, bands that find the pairs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from config.schema import DedupeSettings
from pipelines.neardup import BANDS, NUM_PERM, ROWS, Signature, shingles, signature

PAIRS = json.loads((Path(__file__).parent / "corpus" / "neardup_pairs.json").read_text(encoding="utf-8"))
THRESHOLD = DedupeSettings().threshold


@pytest.fixture(scope="module")
def scored() -> list[tuple[float, dict, Signature, Signature]]:
    signatures = {key: signature(t["text"]) for key, t in PAIRS["texts"].items()}
    return [(signatures[p["a"]].similarity(signatures[p["b"]]), p, signatures[p["a"]], signatures[p["b"]])
            for p in PAIRS["pairs"]]


def test_labelled_pairs_grouping_precision_and_recall(scored: list) -> None:
    """Grouping must never merge different stories (a merge can cost an alert); recall comes second."""
    same = [p for _, p, _, _ in scored if p["same_story"]]
    different = [p for _, p, _, _ in scored if not p["same_story"]]
    assert len(scored) >= 30 and len(same) >= 15 and len(different) >= 15
    grouped = [(value, p) for value, p, _, _ in scored if value >= THRESHOLD]
    wrong = [(round(v, 2), p["kind"]) for v, p in grouped if not p["same_story"]]
    assert not wrong, f"different stories grouped: {wrong}"
    missed = [(round(v, 2), p["kind"]) for v, p, _, _ in scored if p["same_story"] and v < THRESHOLD]
    assert len(missed) <= len(same) // 10, f"re-publications not grouped: {missed}"


def test_every_grouped_pair_shares_an_lsh_band(scored: list) -> None:
    """The stored index finds candidates by band keys: a pair above the threshold must share one."""
    for value, pair, a, b in scored:
        if value >= THRESHOLD:
            assert a.band_keys & b.band_keys, pair["kind"]


def test_case_diacritics_punctuation_and_line_breaks_do_not_count() -> None:
    text = "Jižní Korea a NATO: „Spolupráce pokračuje,“ řekl ministr.\nDalší odstavec o obraně."
    variant = "jizni korea a nato - spoluprace pokracuje, rekl ministr. Dalsi odstavec o obrane"
    assert shingles(text) == shingles(variant)
    assert signature(text).similarity(signature(variant)) == 1.0


def test_different_words_are_different_shingles() -> None:
    assert signature("Україна отримала нову партію техніки від партнерів").similarity(
        signature("Росія втратила нову партію техніки під Харковом")) < THRESHOLD


def test_signature_survives_storage_and_is_the_same_in_another_process() -> None:
    text = "Ministr obrany jednal v Soulu se svým jihokorejským protějškem o spolupráci v obranném průmyslu."
    here = signature(text)
    assert len(here.to_bytes()) == 4 * NUM_PERM and BANDS * ROWS <= NUM_PERM
    restored = Signature.from_bytes(here.to_bytes(), here.shingles)
    assert restored.similarity(here) == 1.0 and restored.band_keys == here.band_keys
    code = f"from pipelines.neardup import signature; print(signature({text!r}).to_bytes().hex())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).parent.parent).stdout.strip()
    assert other == here.to_bytes().hex(), "stored signatures must compare across crawl processes"


def test_empty_text_is_similar_to_nothing() -> None:
    empty = signature("")
    assert empty.shingles == 0 and empty.similarity(empty) == 0.0
