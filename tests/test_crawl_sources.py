"""What real sites serve comes out as clean articles: PDF press releases, pages in legacy charsets
(and with lying headers), and one site under two host names that stays one site.

One crawl of the lab's press, charsets and hosts corners, in a child process; host names like
mocr.army.cz reach the loopback server through settings.yaml's ``crawl.resolve``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from hlidka.db import Article, Match, open_database
from hlidka.fixtureweb import LAB_HOSTS, FixtureWeb, Hit, lab_sources, write_fixture_config
from hlidka.fixtureweb.lab import CHARSET_VARIANTS, MOCR_ALIAS, MOCR_HOST, PRESS_RELEASES

SOURCES = ("lab-press", "lab-charsets", "lab-hosts")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FixtureWeb, list[Hit], dict[str, Article], set]]:
    with FixtureWeb() as web:
        sources = [s for s in lab_sources(web.base_url) if s["id"] in SOURCES]
        config_dir = write_fixture_config(tmp_path_factory.mktemp("sources") / "config", web.base_url, smtp_port=9,
                                          sources=sources, crawl={"resolve": {h: "127.0.0.1" for h in LAB_HOSTS}})
        result = subprocess.run([sys.executable, "-m", "hlidka", "crawl", "--no-send", "--config", str(config_dir)],
                                capture_output=True, text=True, timeout=240)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-4000:]}"
        database = open_database(f"sqlite:///{config_dir / 'hlidka.db'}")
        with database.session() as session:
            articles = {a.canonical_url: a for a in session.scalars(select(Article))}
            matches = {(m.article.canonical_url, m.watchlist_id) for m in session.scalars(select(Match))}
        database.dispose()
        yield web, web.hits, articles, matches


def test_pdf_press_releases_are_extracted_and_matched(crawled: tuple) -> None:
    web, _, articles, matches = crawled
    for release in PRESS_RELEASES:
        url = web.url(f"/lab/press/{release.slug}.pdf")
        stored = articles[url]
        assert stored.title == release.title
        assert stored.published_at is not None and stored.published_at == release.published
        assert stored.author == release.author and stored.language == "cs"
        assert release.paragraphs[-1][:60] in stored.text, "wrapped lines are joined back into the paragraph"
        assert "TISKOVÁ ZPRÁVA" not in stored.text and release.title not in stored.text
    korea = web.url(f"/lab/press/{PRESS_RELEASES[0].slug}.pdf")
    assert (korea, "korea") in matches


@pytest.mark.parametrize("variant", CHARSET_VARIANTS, ids=lambda v: v.name)
def test_legacy_and_mislabelled_charsets_come_out_as_correct_text(crawled: tuple, variant) -> None:
    web, _, articles, _ = crawled
    stored = next(a for a in articles.values() if f"/lab/charsets/{variant.name}/" in a.canonical_url)
    assert stored.title == variant.article.title
    for paragraph in variant.article.paragraphs:
        assert paragraph in stored.text
    assert "\ufffd" not in stored.text and "Ã" not in stored.text


def test_alias_hosts_are_one_site_each_article_fetched_once(crawled: tuple) -> None:
    web, hits, articles, _ = crawled
    port = web.base_url.rsplit(":", 1)[1]
    newest = [web.sites["mocr"].article_path(a) for a in web.articles("mocr")[:4]]
    fetched = [h for h in hits if h.path in newest]
    assert sorted(h.path for h in fetched) == sorted(newest[:3]), "the foreign mirror's copy is not fetched"
    assert {h.host for h in fetched} == {f"{MOCR_HOST}:{port}", f"{MOCR_ALIAS}:{port}"}
    keys = {url for url in articles if "/mocr/" in url}
    assert keys == {f"http://{MOCR_HOST}:{port}{path}" for path in newest[:3]}, "one key per article, on the main host"
    robots = {h.host for h in hits if h.path == "/robots.txt"}
    assert f"{MOCR_ALIAS}:{port}" in robots, "robots.txt is read on every host name"
