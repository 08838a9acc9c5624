"""Optional romanisation: a Cyrillic term marked ``translit`` also finds its Latin spelling."""

import pytest

from config.schema import Watchlist
from pipelines.matching import Matcher
from pipelines.matching.translit import transliterate


@pytest.mark.parametrize(("cyrillic", "latin"), [
    ("Умєров", "Umierov"), ("Зеленський", "Zelenskyi"), ("Згурський", "Zghurskyi"),
    ("Юн Сок Йоль", "Yun Sok Yol"), ("Київ", "Kyiv"), ("Щербухи", "Shcherbukhy"),
    ("Єрмак", "Yermak"), ("Соф’я", "Sofia"), ("Пхеньян", "Pkhenian"),
])
def test_national_system(cyrillic: str, latin: str) -> None:
    assert transliterate(cyrillic) == latin


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher([
        Watchlist(id="umerov", any={"uk": [{"term": "Умєров*", "translit": True}]}),
        Watchlist(id="plain", any={"uk": ["Умєров*"]}),
    ])


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("Ministr obrany Umierov přiletěl do Soulu.", "cs", {"umerov"}),
    ("Minister Umierov's visit to Seoul.", "en", {"umerov"}),
    ("Ministrovi Umierovovi poděkoval.", "cs", {"umerov"}),
    ("Умєрова зустріли в Сеулі.", "uk", {"umerov", "plain"}),
    ("Umierov", "uk", {"umerov"}),
    ("Umerov arrived.", "en", set()),  # a press spelling: write it as its own term
])
def test_translit_term_matches_romanised_text_in_any_language(
    matcher: Matcher, text: str, language: str, expected: set[str]
) -> None:
    assert set(matcher.match(title="", text=text, language=language)) == expected
