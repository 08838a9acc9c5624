"""``hlidka match`` on the fixture pages made from the seeds, with the shipped watchlists."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from hlidka.fixtureweb import FixtureWeb

CONFIG = Path(__file__).resolve().parent.parent / "config"

EXPECTED = {
    "000": {"korea", "nato", "indo-pacific"},
    "001": {"korea", "nato", "indo-pacific"},
    "002": {"korea", "nato", "indo-pacific"},
    "004": {"korea"},  # its NATO mention is in the related-news teasers, not the article
}


@pytest.fixture(scope="module")
def seed_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pages")
    pages: dict[str, Path] = {}
    with FixtureWeb() as web:
        for site in web.sites:
            for article in web.articles(site):
                if article.seed:
                    seed = Path(article.seed).name[:3]
                    with urllib.request.urlopen(web.article_url(site, article), timeout=10) as response:
                        pages[seed] = folder / f"seed-{seed}.html"
                        pages[seed].write_bytes(response.read())
    assert set(pages) == set(EXPECTED)
    return pages


def test_json_output_names_the_expected_watchlists(seed_pages: dict[str, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hlidka", "match", "--config", str(CONFIG), "--json", *map(str, seed_pages.values())],
        capture_output=True, text=True, timeout=120, check=True)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    found = {Path(line["path"]).stem.removeprefix("seed-"): line for line in lines}
    for seed, watchlists in EXPECTED.items():
        record = found[seed]
        assert set(record) == {"path", "title", "language", "published", "matches"}
        assert set(record["matches"]) == watchlists, seed
        for match in record["matches"].values():
            assert match["score"] > 0 and match["hits"]
            for hit in match["hits"]:
                field = record["title"] if hit["field"] == "title" else None
                if field is not None:
                    assert field[hit["start"]:hit["end"]] == hit["surface"]
    assert found["004"]["language"] == "uk" and found["001"]["language"] == "cs"
    assert found["001"]["published"].startswith("2024-09-12")
    surfaces = {h["surface"] for h in found["004"]["matches"]["korea"]["hits"]}
    assert {"Кореї", "КНДР", "Сеулу"} <= surfaces


def test_human_output_shows_hits_and_snippet(seed_pages: dict[str, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hlidka", "match", "--config", str(CONFIG), str(seed_pages["000"])],
        capture_output=True, text=True, timeout=120, check=True)
    assert "✔ korea" in result.stdout and "✔ nato" in result.stdout and "✔ indo-pacific" in result.stdout
    assert "'Korejska'" in result.stdout  # OCR-damaged surface, as written
    assert "[indopacifickém]" in result.stdout  # highlighted in the snippet
