"""Canonical URLs: every spelling of one article is one key."""

import pytest

from crawler.urls import alias_map, canonical_url

MOCR = alias_map(["https://mocr.mo.gov.cz/informacni-servis/zpravodajstvi/"], ["mocr.army.cz"])
KEY = "https://mocr.mo.gov.cz/informacni-servis/zpravodajstvi/clanek-253636"


@pytest.mark.parametrize("spelling", [
    "https://mocr.mo.gov.cz/informacni-servis/zpravodajstvi/clanek-253636",
    "https://MOCR.MO.GOV.CZ:443/informacni-servis/zpravodajstvi/clanek-253636/",
    "http://mocr.army.cz/informacni-servis/zpravodajstvi/clanek-253636",
    "https://www.mocr.army.cz/informacni-servis/zpravodajstvi/clanek-253636#comments",
    "https://mocr.mo.gov.cz/informacni-servis/zpravodajstvi/clanek-253636?utm_source=fb&fbclid=abc",
    "https://mocr.mo.gov.cz/informacni-servis/zpravodajstvi/clanek%2D253636",
])
def test_spellings_of_one_article_share_a_key(spelling: str) -> None:
    assert canonical_url(spelling, MOCR) == KEY


def test_meaningful_query_is_kept_and_sorted() -> None:
    assert canonical_url("http://example.org/a?b=2&a=1&utm_medium=x") == "http://example.org/a?a=1&b=2"


def test_other_hosts_and_ports_stay_apart() -> None:
    assert canonical_url("http://127.0.0.1:8080/x/") == "http://127.0.0.1:8080/x"
    assert canonical_url("https://example.org/x") != canonical_url("https://example.com/x")
