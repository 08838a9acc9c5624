"""Tokenising, folding and URL masking: the ground every match stands on."""

from __future__ import annotations

import pytest

from pipelines.matching.normalize import (
    URL_MASK,
    Tokenized,
    clean,
    fold,
    is_cyrillic,
    is_phrase_gap,
    mask_urls,
    strip_possessive,
)


def tokens_with_spans(text: str) -> list[tuple[str, int, int]]:
    tokenized = Tokenized(text)
    spans = tokenized.spans([(i, i) for i in range(len(tokenized.tokens))])
    return [(token, start, end) for token, (start, end) in zip(tokenized.tokens, spans)]


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Severní", "severni"),
        ("ČTYŘKY", "ctyrky"),
        ("Кореї", "кореї"),
        ("Йолем", "йолем"),
        ("ПІВНІЧНОКОРЕЙСЬКІ", "північнокорейські"),
        ("ув’язненими", "ув'язненими"),
        ("увʼязненими", "ув'язненими"),
        ("Ko\u00adre\u200bje", "koreje"),
        ("Kore\u0301", "kore"),
        ("Коре\u0456\u0308", "кореї"),
        ("ﬁnance", "finance"),
        ("NATO", "nato"),
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_clean_keeps_case_and_diacritics() -> None:
    assert clean("Ko\u00adreje’s") == "Koreje's"
    assert clean("Коре\u0456\u0308") == "Кореї"
    assert clean("Severní") == "Severní"


def test_tokens_keep_inner_apostrophes_and_split_at_hyphens() -> None:
    assert tokens_with_spans("обмін ув’язненими, NATO's Indo-Pacifik") == [
        ("обмін", 0, 5),
        ("ув’язненими", 6, 17),
        ("NATO's", 19, 25),
        ("Indo", 26, 30),
        ("Pacifik", 31, 38),
    ]


def test_tokens_drop_leading_and_trailing_apostrophes_and_quotes() -> None:
    assert Tokenized("'Korea' „Soul“ «Сеул»").tokens == ["Korea", "Soul", "Сеул"]


def test_tokens_keep_soft_hyphens_and_combining_marks_inside() -> None:
    assert Tokenized("Ko\u00adreje Коре\u0456\u0308 x").tokens == ["Ko\u00adreje", "Коре\u0456\u0308", "x"]


def test_token_boundaries_in_both_scripts() -> None:
    assert Tokenized("natolik,senátor;НАТО—натовп IP4").tokens == ["natolik", "senátor", "НАТО", "натовп", "IP4"]


def test_spans_of_token_ranges_in_any_order() -> None:
    tokenized = Tokenized("Jižní  Korea a Severní Korea")
    assert tokenized.spans([(3, 4), (0, 1), (4, 4), (0, 0)]) == [(15, 28), (0, 12), (23, 28), (0, 5)]
    assert tokenized.spans([]) == []


def test_gaps_surround_the_tokens() -> None:
    tokenized = Tokenized("  Jižní – Korea.")
    assert tokenized.gaps() == ["  ", " – ", "."]
    assert tokenized.gap_after(0) == " – "


def test_empty_text_has_no_tokens() -> None:
    assert Tokenized("").tokens == []
    assert Tokenized(" … ").tokens == []


@pytest.mark.parametrize("gap", [" ", "\n", " - ", "\u2011", "\u2013", " \u2014 ", "\u00a0", "-\n"])
def test_phrase_gaps(gap: str) -> None:
    assert is_phrase_gap(gap)


@pytest.mark.parametrize("gap", ["", ". ", ", ", " / ", URL_MASK, "'"])
def test_not_phrase_gaps(gap: str) -> None:
    assert not is_phrase_gap(gap)


def test_possessive() -> None:
    assert strip_possessive("NATO's") == "NATO"
    assert strip_possessive("NATO’s") == "NATO"
    assert strip_possessive("Korea's") == "Korea"
    assert strip_possessive("its") == "its"
    assert strip_possessive("'s") == "'s"


def test_script() -> None:
    assert is_cyrillic("КНДР")
    assert is_cyrillic("IP4 та НАТО")
    assert not is_cyrillic("Koreje")


def test_mask_keeps_length_and_offsets() -> None:
    text = "Zdroj: https://mocr.army.cz/jednani-s-jihokorejskym-protejskem-254369 (Korea)."
    masked = mask_urls(text)
    assert len(masked) == len(text)
    assert masked.startswith("Zdroj: " + URL_MASK)
    assert Tokenized(masked).tokens == ["Zdroj", "Korea"]
    assert masked.index("Korea") == text.index("Korea")


def test_mask_follows_a_url_wrapped_onto_the_next_line() -> None:
    text = (
        "kapacity.\n\nhttps://mocr.mo.gov.cz/informacni-servis/zpravodajstvi/namestek-jednal-se-svym-jihokorejs\n"
        "kym-protejskem-254369\n \nDalší odstavec."
    )
    masked = mask_urls(text)
    assert len(masked) == len(text)
    assert Tokenized(masked).tokens == ["kapacity", "Další", "odstavec"]


def test_mask_leaves_prose_after_a_url_alone() -> None:
    text = "Viz https://example.cz/clanek\nKorea odpověděla."
    assert Tokenized(mask_urls(text)).tokens == ["Viz", "Korea", "odpověděla"]


def test_mask_angle_brackets_and_www() -> None:
    text = "<http://mocr.army.cz/seoul-defense-dialogue:-ucast-253636> a www.korea.net/news."
    assert Tokenized(mask_urls(text)).tokens == ["a"]


def test_text_without_urls_is_returned_as_is() -> None:
    text = "Jižní Korea a KLDR"
    assert mask_urls(text) is text
