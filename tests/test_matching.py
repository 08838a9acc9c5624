"""The watchlist matcher: the shipped watchlists against the case table, then each rule alone."""

from __future__ import annotations

import json
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import load_watchlist_file, watchlist_files
from config.schema import Watchlist
from pipelines.matching import Hit, Matcher, MatchResult, Snippet, lint_watchlist, make_snippet
from pipelines.matching import matcher as matcher_module

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds" / "originals"
CASES = yaml.safe_load((ROOT / "tests" / "data" / "matching_cases.yaml").read_text(encoding="utf-8"))["cases"]


def shipped_watchlists() -> list[Watchlist]:
    return [w for path in watchlist_files(ROOT / "config" / "watchlists") for w in load_watchlist_file(path)]


@pytest.fixture(scope="module")
def shipped() -> Matcher:
    return Matcher(shipped_watchlists())


def article(case: dict[str, Any]) -> tuple[str, str]:
    if "seed" not in case:
        return case.get("title", ""), case["text"]
    text = (SEEDS / case["seed"]).read_text(encoding="utf-8")
    if "cut_before" in case:
        text = text[: text.index(case["cut_before"])]
    return "", text


def describe(hit: Hit) -> str:
    """The table's notation: ``surface = term``, `` (weak)``, ``title: ``."""
    text = f"{hit.surface} = {hit.term}" + (" (weak)" if hit.kind == "weak" else "")
    return f"title: {text}" if hit.field == "title" else text


def make(**fields: Any) -> Watchlist:
    return Watchlist.model_validate({"id": "w", **fields})


def ids(results: dict[str, MatchResult]) -> set[str]:
    return set(results)


# --------------------------------------------------------------------------- the table


def test_table_is_big_enough() -> None:
    sentences = [c for c in CASES if "seed" not in c]
    assert len(sentences) >= 60
    assert {c["lang"] for c in sentences} >= {"cs", "uk", "en"}
    assert len({c["id"] for c in CASES}) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_hits_exactly(shipped: Matcher, case: dict[str, Any]) -> None:
    title, text = article(case)
    results = shipped.match(title, text, case["lang"])
    got = {wid: [describe(h) for h in result.hits] for wid, result in results.items()}
    assert got == case["expect"]
    for result in results.values():
        for hit in result.hits:
            assert (title if hit.field == "title" else text)[hit.start:hit.end] == hit.surface


def test_table_recall_is_total_and_false_positives_are_zero(shipped: Matcher) -> None:
    watchlist_ids = {w.id for w in shipped_watchlists()}
    missed, false_alerts, expected_total = [], [], 0
    for case in CASES:
        title, text = article(case)
        got = ids(shipped.match(title, text, case["lang"]))
        expected = set(case["expect"])
        assert expected <= watchlist_ids, f"{case['id']} expects an unknown watchlist"
        expected_total += len(expected)
        missed += [(case["id"], w) for w in expected - got]
        false_alerts += [(case["id"], w) for w in got - expected]
    assert expected_total >= 60
    assert missed == [], f"recall {1 - len(missed) / expected_total:.1%}"
    assert false_alerts == []


def test_required_seed_outcome(shipped: Matcher) -> None:
    outcome = {}
    for case in CASES:
        if "seed" in case:
            title, text = article(case)
            outcome[case["seed"][:3]] = ids(shipped.match(title, text, case["lang"]))
    assert outcome == {
        "000": {"korea", "nato", "indo-pacific"},
        "001": {"korea", "nato", "indo-pacific"},
        "002": {"korea", "nato", "indo-pacific"},
        "004": {"korea"},
    }


@pytest.mark.parametrize("case", [c for c in CASES if "seed" in c], ids=lambda c: c["id"])
def test_seeds_need_no_language(shipped: Matcher, case: dict[str, Any]) -> None:
    """Detection may fail (the OCR seed is barely recognised as Czech): unknown applies every group."""
    title, text = article(case)
    assert ids(shipped.match(title, text, None)) == set(case["expect"])


def test_teaser_block_is_what_alerts_nato_on_seed_004(shipped: Matcher) -> None:
    full = (SEEDS / "004_495c84a5261ecce7.txt").read_text(encoding="utf-8")
    hits = shipped.match("", full, "uk")["nato"].hits
    assert [describe(h) for h in hits] == ["Рютте = Рютте (weak)", "НАТО = НАТО", "Рютте = Рютте (weak)"]
    assert all(h.start > full.index("Інші Новини") for h in hits)


def test_shipped_watchlists_lint_clean_and_use_default_channels() -> None:
    for watchlist in shipped_watchlists():
        assert lint_watchlist(watchlist) == [], watchlist.id
        assert watchlist.alert.channels == []
        assert watchlist.alert.min_hits == 1
    korea = next(w for w in shipped_watchlists() if w.id == "korea")
    assert korea.all == []


# --------------------------------------------------------------------------- term syntax


def test_plain_word_matches_inflected_forms_by_lemma() -> None:
    matcher = Matcher([make(any=[{"term": "Korea", "lang": "cs"}, {"term": "Сеул", "lang": "uk"}])])
    assert [h.surface for h in matcher.match("", "Koreje, Koreji, Koreou a Koreu.", "cs")["w"].hits] == [
        "Koreje", "Koreji", "Koreou", "Koreu"]
    assert [h.surface for h in matcher.match("", "Сеула, Сеулу, Сеулом.", "uk")["w"].hits] == ["Сеула", "Сеулу", "Сеулом"]


def test_diacritics_are_folded_for_latin_only() -> None:
    matcher = Matcher([make(any=["Severní", {"term": "Кореї", "inflect": False}])])
    assert [h.surface for h in matcher.match("", "SEVERNI a severni", "cs")["w"].hits] == ["SEVERNI", "severni"]
    # ї is a letter of its own in Ukrainian: "Кореі" (with і) is another form. (With inflect on,
    # pymorphy3 guesses "корея" for this misspelling too, which is welcome.)
    assert [h.surface for h in matcher.match("", "Кореї КОРЕЇ Кореі", "uk")["w"].hits] == ["Кореї", "КОРЕЇ"]


def test_inflect_false_means_this_form_only() -> None:
    matcher = Matcher([make(any=[{"term": "Koreje", "inflect": False}])])
    assert [h.surface for h in matcher.match("", "Korea, Koreje, KOREJE, Koreou", "cs")["w"].hits] == ["Koreje", "KOREJE"]


def test_prefix_only_at_the_start_of_a_word() -> None:
    matcher = Matcher([make(any=["korej*"])])
    assert [h.surface for h in matcher.match("", "jihokorejský korejský Korej", "cs")["w"].hits] == ["korejský", "Korej"]


def test_acronym_is_case_exact_and_whole_token() -> None:
    matcher = Matcher([make(any=["NATO", "НАТО"])])
    text = "NATO, Nato, nato, NATO's, NATO’s, natolik, SENATOR, НАТО, Нато, натовп, ANTINATO"
    assert [h.surface for h in matcher.match("", text, "en")["w"].hits] == ["NATO", "NATO's", "NATO’s", "НАТО"]


def test_acronym_with_case_false_is_a_plain_word() -> None:
    matcher = Matcher([make(any=[{"term": "NATO", "case": False}])])
    assert [h.surface for h in matcher.match("", "Nato and NATO", "en")["w"].hits] == ["Nato", "NATO"]


def test_case_true_checks_the_first_letter() -> None:
    matcher = Matcher([make(any=[{"term": "Soul", "case": True, "lang": "cs"}])])
    assert [h.surface for h in matcher.match("", "soul, Soulu, souladu, Soulem, SOULU", "cs")["w"].hits] == [
        "Soulu", "Soulem", "SOULU"]


def test_phrase_words_are_consecutive_with_only_spaces_or_dashes_between() -> None:
    matcher = Matcher([make(any=["Jižní Korea"])])
    text = "Jižní Koreou. Jižní  –  Koreje. Jižní, Korea. Jižní a Korea."
    assert [h.surface for h in matcher.match("", text, "cs")["w"].hits] == ["Jižní Koreou", "Jižní  –  Koreje"]


def test_hyphenated_term_matches_joined_spaced_and_other_dashes() -> None:
    matcher = Matcher([make(any=["Indo-Pacifik"])])
    text = "Indo-Pacifik, indopacifik, Indo Pacifik, Indo\u2011Pacifik, Indo\u2014Pacifik, Indo.Pacifik"
    assert [h.surface for h in matcher.match("", text, "cs")["w"].hits] == [
        "Indo-Pacifik", "indopacifik", "Indo Pacifik", "Indo\u2011Pacifik", "Indo\u2014Pacifik"]


def test_soft_hyphens_and_decomposed_letters_do_not_break_words() -> None:
    matcher = Matcher([make(any=["Korea", "Корея"])])
    text = "Ko\u00adreje a Коре\u0456\u0308"  # &shy; from HTML; ї written as і + combining diaeresis
    assert [h.surface for h in matcher.match("", text, None)["w"].hits] == ["Ko\u00adreje", "Коре\u0456\u0308"]


def test_term_language_and_watchlist_languages() -> None:
    matcher = Matcher([
        make(id="cs-term", any=[{"term": "Korea", "lang": "cs"}]),
        make(id="cs-only", languages=["cs"], any=["Korea"]),
    ])
    assert ids(matcher.match("", "Korea", "cs")) == {"cs-term", "cs-only"}
    assert ids(matcher.match("", "Korea", "en")) == set()
    assert ids(matcher.match("", "Korea", None)) == {"cs-term", "cs-only"}
    assert ids(matcher.match("", "Korea", "cs-CZ")) == {"cs-term", "cs-only"}
    assert ids(matcher.match("", "Korea", "de")) == set()


def test_urls_never_hit() -> None:
    matcher = Matcher([make(any=["korej*"])])
    text = "Viz https://example.cz/korejsky-clanek a <http://www.example.cz/korejske>.\nKorejský."
    assert [h.surface for h in matcher.match("", text, "cs")["w"].hits] == ["Korejský"]


# --------------------------------------------------------------------------- watchlist keys


def test_weak_terms_count_only_next_to_a_strong_hit() -> None:
    matcher = Matcher([make(any=["NATO"], weak=["Rutte"])])
    assert matcher.match("", "Rutte spoke.", "en") == {}
    result = matcher.match("", "Rutte spoke about NATO.", "en")["w"]
    assert [(h.surface, h.kind) for h in result.hits] == [("Rutte", "weak"), ("NATO", "strong")]
    assert result.score == 2.0


def test_all_groups_must_each_appear_but_do_not_count() -> None:
    matcher = Matcher([make(any=["Korea"], all=[["raketa", "missile"], ["armáda"]])])
    assert matcher.match("", "Korea odpálila raketu.", "cs") == {}
    result = matcher.match("", "Armáda KLDR: Korea odpálila raketu.", "cs")["w"]
    assert [h.surface for h in result.hits] == ["Korea"]
    assert result.score == 1.0


def test_none_vetoes_the_article() -> None:
    matcher = Matcher([make(any=["korea*"], none=["K-pop"])])
    assert ids(matcher.match("", "Korean troops", "en")) == {"w"}
    assert matcher.match("", "Korean troops and K-pop stars", "en") == {}


def test_ignore_masks_overlapping_hits_in_the_same_field() -> None:
    matcher = Matcher([make(any=[{"term": "Soul", "case": True}], ignore=["soul music"])])
    assert matcher.match("", "Soul music everywhere.", "cs") == {}
    result = matcher.match("Soul music", "Jednání v Soulu.", "cs")["w"]
    assert [(h.field, h.surface) for h in result.hits] == [("text", "Soulu")]


def test_ignored_span_does_not_veto() -> None:
    matcher = Matcher([make(any=["NATO"], none=["Aliance"], ignore=["Aliance pro budoucnost"])])
    assert ids(matcher.match("", "Aliance pro budoucnost o NATO.", "cs")) == {"w"}
    assert matcher.match("", "Aliance a NATO.", "cs") == {}


def test_min_hits_is_weighted_by_field_and_term() -> None:
    matcher = Matcher([make(any=["Korea", {"term": "KLDR", "weight": 2}], alert={"min_hits": 3})])
    assert matcher.match("", "Korea a Korea.", "cs") == {}
    assert matcher.match("Korea", "", "cs")["w"].score == 3.0  # title weight 3
    assert matcher.match("", "KLDR a Korea.", "cs")["w"].score == 3.0


def test_min_terms_counts_distinct_terms() -> None:
    matcher = Matcher([make(any=["Korea", "KLDR"], alert={"min_terms": 2})])
    assert matcher.match("", "Korea, Koreje, Koreou.", "cs") == {}
    assert ids(matcher.match("", "Korea a KLDR.", "cs")) == {"w"}


def test_overlapping_hits_count_once_longest_wins() -> None:
    matcher = Matcher([make(any=["Severoatlantická aliance", "Severoatlantická"], weak=["aliance"])])
    result = matcher.match("", "Se Severoatlantickou aliancí.", "cs")["w"]
    assert [(h.term, h.surface) for h in result.hits] == [("Severoatlantická aliance", "Severoatlantickou aliancí")]
    assert result.score == 1.0


def test_disabled_watchlists_are_skipped() -> None:
    matcher = Matcher([make(id="off", enabled=False, any=["Korea"]), make(id="on", any=["Korea"])])
    assert ids(matcher.match("", "Korea", "cs")) == {"on"}


def test_results_are_json_able() -> None:
    result = Matcher([make(any=["Korea"])]).match("Korea", "V Koreji.", "cs")["w"]
    assert json.loads(json.dumps(result.to_dict())) == {
        "score": 4.0,
        "hits": [
            {"term": "Korea", "surface": "Korea", "field": "title", "start": 0, "end": 5, "kind": "strong"},
            {"term": "Korea", "surface": "Koreji", "field": "text", "start": 2, "end": 8, "kind": "strong"},
        ],
    }


# --------------------------------------------------------------------------- sharing the matcher


def test_pickled_matcher_matches_the_same(shipped: Matcher) -> None:
    copy = pickle.loads(pickle.dumps(shipped))
    for case in CASES:
        title, text = article(case)
        assert copy.match(title, text, case["lang"]) == shipped.match(title, text, case["lang"])


def test_threads_share_one_matcher() -> None:
    matcher = Matcher(shipped_watchlists())  # a fresh one: threads fill its token memo together
    jobs = [(case, article(case)) for case in CASES] * 5
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda job: ids(matcher.match(*job[1], job[0]["lang"])), jobs))
    assert got == [set(case["expect"]) for case, _ in jobs]


def test_a_full_token_memo_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matcher_module, "_MEMO_LIMIT", 3)
    matcher = Matcher([make(any=["Korea"])])
    for _ in range(3):
        assert [h.surface for h in matcher.match("", "Jižní Korea a Severní Koreje", "cs")["w"].hits] == ["Korea", "Koreje"]


# --------------------------------------------------------------------------- snippets


def hit(text: str, surface: str, occurrence: int = 0) -> Hit:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(surface, start + 1)
    return Hit("t", surface, "text", start, start + len(surface), "strong")


def test_snippet_centres_on_the_densest_hits_and_collapses_whitespace() -> None:
    text = "Úvod. " * 60 + "Jednání\n\nv  Soulu o KLDR a Koreji. " + "Závěr. " * 60
    hits = [hit(text, "Soulu"), hit(text, "KLDR"), hit(text, "Koreji")]
    snippet = make_snippet(text, hits, width=80)
    assert isinstance(snippet, Snippet)
    assert snippet.text.startswith("…") and snippet.text.endswith("…")
    assert "Jednání v Soulu o KLDR a Koreji." in snippet.text
    assert [snippet.text[s:e] for s, e in snippet.spans] == ["Soulu", "KLDR", "Koreji"]
    assert len(snippet.text) <= 80 + 2
    assert "  " not in snippet.text and "\n" not in snippet.text


def test_snippet_prefers_the_cluster_over_a_lone_hit() -> None:
    text = "Korea na začátku. " + "Výplň textu. " * 40 + "KLDR, Soul a Pchjongjang spolu."
    hits = [hit(text, "Korea"), hit(text, "KLDR"), hit(text, "Soul"), hit(text, "Pchjongjang")]
    snippet = make_snippet(text, hits, width=60)
    assert [snippet.text[s:e] for s, e in snippet.spans] == ["KLDR", "Soul", "Pchjongjang"]


def test_snippet_without_text_hits_is_the_start_and_ignores_title_hits() -> None:
    text = "První věta článku. " * 30
    title_hit = Hit("Korea", "Korea", "title", 0, 5, "strong")
    snippet = make_snippet(text, [title_hit], width=50)
    assert snippet.text.startswith("První věta") and snippet.text.endswith("…")
    assert snippet.spans == []


def test_snippet_of_a_short_text_is_the_whole_text() -> None:
    text = "  V Soulu\tse jednalo.  "
    snippet = make_snippet(text, [hit(text, "Soulu")])
    assert snippet.text == "V Soulu se jednalo."
    assert snippet.spans == [(2, 7)]


def test_snippet_from_real_hits(shipped: Matcher) -> None:
    text = (SEEDS / "002_ad50d04fe0c25486.txt").read_text(encoding="utf-8")
    hits = shipped.match("", text, "cs")["korea"].hits
    snippet = make_snippet(text, hits)
    assert len(snippet.spans) >= 3
    for start, end in snippet.spans:
        assert snippet.text[start:end] in {h.surface for h in hits}


# --------------------------------------------------------------------------- lint


def test_lint_warns_about_terms_that_misbehave() -> None:
    watchlist = make(
        any=[
            "soul*", "nato*", "korej*", "–", "x", "U.S.",
            {"term": "Корея", "lang": "cs"}, {"term": "Korea", "lang": "uk"}, {"term": "NATO", "lang": "uk"},
            "Korea", "KOREA",
        ],
        none=["Korea"],
    )
    warnings = lint_watchlist(watchlist)
    assert len(warnings) == 8, warnings
    joined = "\n".join(warnings)
    assert "any: 'soul*' is a prefix of fewer than 5 letters" in joined
    assert "any: 'nato*' is a prefix" in joined
    assert "'korej*'" not in joined
    assert "any: '–' normalises to nothing" in joined
    assert "any: 'x' normalises to the single character 'x'" in joined
    assert "any: 'U.S.' contains '.'" in joined
    assert "any: 'Корея' is written in Cyrillic but applies only to 'cs' articles" in joined
    assert "any: 'Korea' is written in Latin script but applies only to 'uk' articles" in joined
    assert "'korea' is listed 3 times: any, any, none" in joined
