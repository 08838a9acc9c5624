"""Revisits are cheap and find exactly what is new: 304s for listings, feeds and sitemaps, no known
article downloaded, and a story published between two runs stored and alerted alone.

One fixture web, one database, three crawls in child processes (as the service runs them):
the first reads everything, the second finds nothing changed, the third runs after two sites
published a story and a third corrected one.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hlidka.db import Alert, Article, Database, open_database
from hlidka.db.models import HttpValidator
from hlidka.fixtureweb import FixtureWeb, Hit, fixture_sources, load_sites, write_fixture_config

KOREA_STORY = {
    "title": "Ministr obrany jednal v Soulu o spolupráci s Korejskou republikou",
    "text": ("Ministr obrany dnes v Soulu jednal se svým jihokorejským protějškem o prohloubení obranné "
             "spolupráce. Korejská republika je pro Českou republiku klíčovým partnerem v Asii.\n\n"
             "Obě strany se dohodly na pokračování konzultací a na společném cvičení ženijních jednotek."),
}
UA_STORY = {
    "title": "У Житомирі відкрили новий центр підготовки рятувальників",
    "text": ("Новий навчальний центр прийматиме до двохсот курсантів на рік. Там облаштували полігон, "
             "басейн і класи для занять з надання першої допомоги.\n\n"
             "Обласна адміністрація планує розширити центр наступного року."),
}


def crawl(config_dir: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "hlidka", "crawl", "--no-send", "--config", str(config_dir)],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"crawl failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    return result.stdout


def pages(hits: list[Hit]) -> list[Hit]:
    return [h for h in hits if h.path != "/robots.txt"]


@pytest.fixture(scope="module")
def web() -> Iterator[FixtureWeb]:
    with FixtureWeb() as server:
        yield server


@pytest.fixture(scope="module")
def config_dir(web: FixtureWeb, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mocr through its paginated HTML listing, zpravy through its RSS feed with re-checks of recent
    articles, ua through its sitemap index (news sitemap + archive)."""
    sites = load_sites()
    by_id = {s["id"]: s for s in fixture_sources(sites, web.base_url)}
    sources = [
        by_id["mocr"],
        {**by_id["zpravy"], "recheck": "1d"},
        {"id": "ua", "kind": "sitemap", "start_urls": [web.url("/ua/sitemap.xml")],
         "article_links": [sites["ua"].article_link_regex()], "max_pages": 5, "language": "uk", "interval": "10s"},
    ]
    # A channel that is never contacted (--no-send): alerts stay queued where the test can count them.
    return write_fixture_config(tmp_path_factory.mktemp("incremental") / "config", web.base_url, smtp_port=9,
                                sources=sources)


@pytest.fixture(scope="module")
def database(config_dir: Path) -> Iterator[Database]:
    db = open_database(f"sqlite:///{config_dir / 'hlidka.db'}")
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def runs(web: FixtureWeb, config_dir: Path, database: Database) -> dict[str, object]:
    """The three crawls, with what the server saw during each and the articles stored after it."""
    def stored() -> dict[str, Article]:
        with database.session() as session:
            return {a.canonical_url: a for a in session.scalars(select(Article))}

    record: dict[str, object] = {}
    start = len(web.hits)
    crawl(config_dir)
    record["first"], record["after_first"] = web.hits[start:], stored()
    start = len(web.hits)
    crawl(config_dir)
    record["second"], record["after_second"] = web.hits[start:], stored()

    record["new_mocr"] = web.publish("mocr", KOREA_STORY)
    record["new_ua"] = web.publish("ua", UA_STORY)
    corrected = web.articles("zpravy")[1]
    web.revise("zpravy", corrected, paragraphs=(*corrected.paragraphs[:-1], corrected.paragraphs[-1] + " (Opraveno.)"))
    record["corrected"] = web.article_url("zpravy", corrected)
    with database.session() as session:
        record["alerts_before"] = {a.id for a in session.scalars(select(Alert))}
    start = len(web.hits)
    crawl(config_dir)
    record["third"], record["after_third"] = web.hits[start:], stored()
    return record


def article_paths(web: FixtureWeb) -> dict[str, str]:
    return {web.sites[s].article_path(a): s for s in ("mocr", "zpravy", "ua") for a in web.articles(s)}


def test_first_run_stores_every_article_of_the_three_kinds_of_listing(web: FixtureWeb, runs: dict) -> None:
    stored = runs["after_first"]
    assert {url.removeprefix(web.base_url) for url in stored} == set(article_paths(web)) - {
        web.sites["mocr"].article_path(web.articles("mocr")[0]), web.sites["ua"].article_path(web.articles("ua")[0])}
    assert len(stored) >= 16
    sitemaps = [h.path for h in runs["first"] if h.path.startswith("/ua/sitemap")]
    assert sitemaps[0] == "/ua/sitemap.xml"
    assert sorted(sitemaps[1:]) == ["/ua/sitemap-archive.xml", "/ua/sitemap-news.xml"]


def test_unchanged_revisit_gets_only_304s_and_downloads_no_article(web: FixtureWeb, runs: dict,
                                                                    database: Database) -> None:
    second = pages(runs["second"])
    zpravy_articles = {web.sites["zpravy"].article_path(a) for a in web.articles("zpravy")[0:]}
    expected = {"/mocr/informacni-servis/zpravodajstvi/", "/zpravy/rss.xml",
                "/ua/sitemap.xml", "/ua/sitemap-news.xml", "/ua/sitemap-archive.xml"}
    assert {h.path for h in second} == expected | zpravy_articles, "listings, feed, sitemaps and re-checks only"
    assert all(h.status == 304 and h.bytes == 0 for h in second), [(h.path, h.status) for h in second]
    assert len(second) == len({h.path for h in second}), "each revalidated once"
    assert runs["after_second"].keys() == runs["after_first"].keys()
    with database.session() as session:
        validated = set(session.scalars(select(HttpValidator.url)))
    assert web.url("/ua/sitemap-news.xml") in validated and web.url("/zpravy/rss.xml") in validated


def test_what_was_published_between_runs_is_fetched_stored_and_alerted_alone(web: FixtureWeb, runs: dict,
                                                                              database: Database) -> None:
    fetched_articles = {h.path for h in runs["third"] if h.path in article_paths(web) and h.status == 200}
    new = {runs["new_mocr"], runs["new_ua"]}
    assert fetched_articles == {url.removeprefix(web.base_url) for url in new | {runs["corrected"]}}
    added = runs["after_third"].keys() - runs["after_first"].keys()
    assert added == new
    with database.session() as session:
        alerts = [a for a in session.scalars(select(Alert)) if a.id not in runs["alerts_before"]]
    korea_story = runs["after_third"][runs["new_mocr"]]
    assert {a.article_id for a in alerts} <= {runs["after_third"][url].id for url in new}, "no alert for older articles"
    assert ("korea", korea_story.id) in {(a.watchlist_id, a.article_id) for a in alerts}


def test_recheck_revalidates_recent_articles_and_refetches_only_the_corrected_one(web: FixtureWeb,
                                                                                  runs: dict) -> None:
    corrected = runs["corrected"].removeprefix(web.base_url)
    rechecks = [h for h in runs["third"] if h.path.startswith("/zpravy/clanek/")]
    assert {h.path for h in rechecks if h.status == 200} == {corrected}
    assert all(h.status == 304 for h in rechecks if h.path != corrected)
