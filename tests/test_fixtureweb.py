"""The fixture web behaves like the news sites it stands in for: chrome, pagination, feeds,
revalidation, robots.txt, publishing — everything the crawler tests rely on."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import pytest
import yaml
from parsel import Selector

import config
from config.loader import load_settings, load_sources
from config.schema import Source
from hlidka.fixtureweb import Article, FixtureWeb, load_sites, write_fixture_config

WATCHED = re.compile(
    r"korej|\bkorea|корея|кореї|корей|\bkldr\b|кндр|\bsoul(u|em)?\b|seoul|сеул|pchjongjang"
    r"|\bnato\b|\bнато\b|natovsk|severoatlantick|альянс|rutte|рютте|indo-?pacif|індо-тихоокеан",
    re.IGNORECASE,
)


class Fetched:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        charset = re.search(r"charset=([\w-]+)", self.headers.get("Content-Type", ""))
        return self.body.decode(charset.group(1) if charset else "utf-8")


def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Fetched:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Fetched(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:  # 304 and 404 arrive as errors in urllib
        return Fetched(error.code, dict(error.headers), error.read())


@pytest.fixture(scope="module")
def web() -> Iterator[FixtureWeb]:
    with FixtureWeb() as running:
        yield running


def seed_article(web: FixtureWeb, site: str, seed: str) -> Article:
    return next(a for a in web.articles(site) if a.seed == seed)


def source(web: FixtureWeb, site: str) -> dict:
    return next(s for s in web.sources() if s["id"] == site)


# --------------------------------------------------------------------------- server


def test_serves_on_loopback_with_an_ephemeral_port_and_stops() -> None:
    web = FixtureWeb().start()
    host, port = urlsplit(web.base_url).hostname, urlsplit(web.base_url).port
    assert host == "127.0.0.1" and port and port > 0
    assert fetch(web.url("/robots.txt")).status == 200
    web.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    with pytest.raises(RuntimeError):
        _ = web.base_url


def test_request_log_counts_by_prefix(web: FixtureWeb) -> None:
    before_ua, before_all = web.count("/ua/"), web.count()
    fetch(web.url("/ua/news/"))
    fetch(web.url("/ua/no-such-page"))
    assert web.count("/ua/") == before_ua + 2
    assert web.count() == before_all + 2
    assert web.requests[-2:] == [("GET", "/ua/news/", 200), ("GET", "/ua/no-such-page", 404)]


def test_parallel_requests_are_all_answered(web: FixtureWeb) -> None:
    urls = [web.article_url(site, a) for site in web.sites for a in web.articles(site)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda u: fetch(u).status, urls * 2))
    assert statuses == [200] * len(urls) * 2


def test_site_root_redirects_to_the_listing(web: FixtureWeb) -> None:
    response = fetch(web.url("/mocr/"))  # urllib follows the redirect
    assert response.status == 200
    assert web.requests[-2:] == [
        ("GET", "/mocr/", 301),
        ("GET", "/mocr/informacni-servis/zpravodajstvi/", 200),
    ]


# --------------------------------------------------------------------------- pages


@pytest.mark.parametrize("site", ["mocr", "zpravy", "ua"])
def test_article_pages_have_realistic_chrome(web: FixtureWeb, site: str) -> None:
    article = web.articles(site)[-1]
    url = web.article_url(site, article)
    page = fetch(url)
    sel = Selector(text=page.text)
    assert sel.xpath("/html/@lang").get() == (article.language or web.sites[site].language)
    assert sel.css("meta[charset]::attr(charset)").get() == web.sites[site].encoding
    assert sel.css("link[rel=canonical]::attr(href)").get() == url
    assert sel.css("meta[property='og:title']::attr(content)").get() == article.title
    published = sel.css("meta[property='article:published_time']::attr(content)").get(default="")
    assert datetime.fromisoformat(published) == article.published
    assert sel.css("article h1::text").get() == article.title
    assert datetime.fromisoformat(sel.css("article time::attr(datetime)").get(default="")) == article.published
    assert sel.css("article .author::text").get() == article.author
    assert len(sel.css("nav.breadcrumbs li")) == 3
    assert sel.css(".cookie-bar p::text").get()
    chrome = " ".join(sel.css("header.site-header ::text, footer ::text").getall())
    assert WATCHED.search(chrome), "navigation and footer must name watched topics (the boilerplate trap)"


def test_related_block_placement_differs_per_site(web: FixtureWeb) -> None:
    def related_heading_inside_article(site: str) -> bool:
        sel = Selector(text=fetch(web.article_url(site, web.articles(site)[0])).text)
        label = web.sites[site].labels.related
        return label in sel.css("article ::text").getall()

    assert related_heading_inside_article("mocr")
    assert not related_heading_inside_article("zpravy")
    assert not related_heading_inside_article("ua")


def test_seed_004_teasers_form_a_sibling_block_after_the_article(web: FixtureWeb) -> None:
    article = seed_article(web, "ua", "004")
    sel = Selector(text=fetch(web.article_url("ua", article)).text)
    paragraphs = sel.css("article .article-body p::text").getall()
    body = " ".join(sel.css("article ::text").getall())
    block = " ".join(sel.css("article + .other-news ::text").getall())
    assert paragraphs[-1].endswith("– додав глава Міноборони.")
    assert "НАТО" not in body and "Рютте" not in body
    assert "Зеленський озвучив Рютте необхідне ППО" in block and "НАТО" in block
    assert "Average Rating" not in sel.get()


def test_seed_000_keeps_the_ocr_text_but_not_its_source_url(web: FixtureWeb) -> None:
    article = seed_article(web, "mocr", "000")
    assert article.title == "Náměstek Blažkovec jednal se svým jihokorejským protějškem"
    sel = Selector(text=fetch(web.article_url("mocr", article)).text)
    body = " ".join(sel.css("article .obsah p::text").getall())
    assert "~Korejska republika je jednim z nasich nejvyznamnéjsich partneru v Asii." in body
    assert "v Soulu. Na okraj tohoto setkani se planuje i podnikatelské forum" in body
    assert "mocr.mo.gov.cz" not in body and "kym-protejskem-254369" not in body


def test_seed_001_lead_is_the_perex(web: FixtureWeb) -> None:
    article = seed_article(web, "mocr", "001")
    assert article.lead and article.lead.startswith("„Účast na Seoul Defense Dialogue")
    assert article.published == datetime.fromisoformat("2024-09-12T11:05:00+02:00")
    assert not any("mocr.army.cz" in p for p in article.paragraphs)


def test_fillers_never_mention_watched_topics() -> None:
    fillers = [a for site in load_sites().values() for a in site.articles if a.seed is None]
    assert 8 <= len(fillers) <= 12
    for article in fillers:
        text = " ".join([article.title, article.lead or "", *article.paragraphs])
        assert not WATCHED.search(text), (article.title, WATCHED.search(text))
    assert {a.language or "site" for a in fillers} >= {"en", "site"}


def test_windows_1250_site_declares_and_uses_its_charset(web: FixtureWeb) -> None:
    article = seed_article(web, "zpravy", "002")
    page = fetch(web.article_url("zpravy", article))
    assert page.headers["Content-Type"] == "text/html; charset=windows-1250"
    with pytest.raises(UnicodeDecodeError):
        page.body.decode("utf-8")
    assert "Rutte: NATO zatím nemá důkaz o severokorejských vojácích v Rusku" in page.text


# --------------------------------------------------------------------------- listings and feeds


def test_html_listing_paginates_through_every_article(web: FixtureWeb) -> None:
    mocr = source(web, "mocr")
    article_link = re.compile(mocr["article_links"][0])
    url, pages, found = mocr["start_urls"][0], 0, []
    while url:
        sel = Selector(text=fetch(url).text)
        links = [urljoin(url, h) for h in sel.css(f"{mocr['link_scope']} a::attr(href)").getall()]
        found += [link for link in links if article_link.search(link)]
        all_links = [urljoin(url, h) for h in sel.css("a::attr(href)").getall()]
        outside_scope = set(all_links) - set(links)
        assert not any(article_link.search(link) for link in outside_scope), "nav links look like articles"
        next_href = sel.css(f"{mocr['next_page']}::attr(href)").get()
        url = urljoin(url, next_href) if next_href else None
        pages += 1
    assert pages >= 3
    assert found == [web.article_url("mocr", a) for a in web.articles("mocr")]


def test_ua_listing_paginates_by_path(web: FixtureWeb) -> None:
    page2 = fetch(web.url("/ua/news/page/2/"))
    assert page2.status == 200
    assert Selector(text=page2.text).css("nav.pagination a[rel=prev]::attr(href)").get() == "/ua/news/"
    assert fetch(web.url("/ua/news/page/9/")).status == 404
    assert fetch(web.url("/mocr/informacni-servis/zpravodajstvi/?page=9")).status == 404


@pytest.mark.parametrize("site", ["zpravy", "ua"])
def test_rss_feed_lists_articles_newest_first(web: FixtureWeb, site: str) -> None:
    feed = fetch(web.url(web.sites[site].feed_path or ""))
    assert feed.headers["Content-Type"].startswith("application/rss+xml")
    channel = ET.fromstring(feed.body).find("channel")
    assert channel is not None and channel.findtext("language") == web.sites[site].language
    items = channel.findall("item")
    assert [i.findtext("link") for i in items] == [web.article_url(site, a) for a in web.articles(site)]
    dates = [parsedate_to_datetime(i.findtext("pubDate") or "") for i in items]
    assert dates == sorted(dates, reverse=True)
    assert all(i.findtext("guid") == i.findtext("link") for i in items)


def test_sources_are_valid_and_their_regexes_pick_articles_only(web: FixtureWeb) -> None:
    sources = web.sources()
    assert [s["id"] for s in sources] == ["mocr", "zpravy", "ua"]
    assert {s["id"]: s["kind"] for s in sources} == {"mocr": "html", "zpravy": "rss", "ua": "html"}
    for spec in sources:
        Source.model_validate(spec)
        pattern = re.compile(spec["article_links"][0])
        site = web.sites[spec["id"]]
        assert all(pattern.search(web.article_url(site.id, a)) for a in web.articles(site.id))
        for not_article in (site.listing_path(), site.listing_path(2), site.path("nato/"), "/robots.txt"):
            assert not pattern.search(web.url(not_article)), not_article


# --------------------------------------------------------------------------- revalidation


@pytest.mark.parametrize("path_of", [
    lambda web: web.sites["mocr"].listing_path(),
    lambda web: web.sites["zpravy"].feed_path,
    lambda web: web.sites["ua"].article_path(web.articles("ua")[0]),
], ids=["listing", "feed", "article"])
def test_revalidation_answers_304(web: FixtureWeb, path_of) -> None:
    url = web.url(path_of(web))
    first = fetch(url)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.status == 200 and etag and last_modified
    by_etag = fetch(url, {"If-None-Match": etag})
    assert by_etag.status == 304 and by_etag.body == b"" and by_etag.headers["ETag"] == etag
    assert fetch(url, {"If-Modified-Since": last_modified}).status == 304
    assert fetch(url, {"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"}).status == 200
    assert fetch(url, {"If-None-Match": '"stale"', "If-Modified-Since": last_modified}).status == 200


def test_article_last_modified_is_its_update_time(web: FixtureWeb) -> None:
    article = next(a for a in web.articles("mocr") if a.modified)
    response = fetch(web.article_url("mocr", article))
    assert parsedate_to_datetime(response.headers["Last-Modified"]) == article.modified
    assert 'property="article:modified_time"' in response.text


def test_head_has_headers_but_no_body(web: FixtureWeb) -> None:
    head = fetch(web.url("/ua/news/"), method="HEAD")
    assert head.status == 200 and head.body == b"" and int(head.headers["Content-Length"]) > 1000


def test_publish_puts_the_article_on_top_and_changes_validators() -> None:
    with FixtureWeb() as web:
        listing, feed = web.url("/zpravy/"), web.url("/zpravy/rss.xml")
        before = {url: fetch(url) for url in (listing, feed)}
        article = Article(
            title="Armáda převzala první nové nákladní automobily",
            paragraphs=("Do Pardubic dorazilo prvních dvanáct vozů z nové zakázky. " * 5,),
            published=datetime(2025, 1, 15, 9, 0, tzinfo=timezone.utc),
        )
        url = web.publish("zpravy", article)
        assert re.search(source(web, "zpravy")["article_links"][0], url)
        assert url.endswith("/zpravy/clanek/armada-prevzala-prvni-nove-nakladni-automobily-262191")
        for page_url, old in before.items():
            revalidated = fetch(page_url, {"If-None-Match": old.headers["ETag"]})
            assert revalidated.status == 200 and revalidated.headers["ETag"] != old.headers["ETag"]
            assert fetch(page_url, {"If-Modified-Since": old.headers["Last-Modified"]}).status == 200
        first_link = Selector(text=fetch(listing).text).css(".article-list a::attr(href)").get()
        assert web.url(first_link or "") == url
        first_item = ET.fromstring(fetch(feed).body).find("channel/item")
        assert first_item is not None and first_item.findtext("link") == url
        assert "Do Pardubic dorazilo" in fetch(url).text
        with pytest.raises(KeyError):
            web.publish("nonexistent", article)
        from_mapping = web.publish("ua", {"title": "Нова статя", "text": "Перший абзац.\n\nДругий абзац."})
        assert re.search(r"/ua/news/28513-nova-statia\.html$", from_mapping)
        assert web.articles("ua")[0].paragraphs == ("Перший абзац.", "Другий абзац.")


# --------------------------------------------------------------------------- robots and config


def test_robots_txt_disallows_only_private(web: FixtureWeb) -> None:
    robots = RobotFileParser()
    robots.parse(fetch(web.url("/robots.txt")).text.splitlines())
    assert not robots.can_fetch("Hlidka", web.url("/private/intranet"))
    assert robots.can_fetch("Hlidka", web.url("/mocr/informacni-servis/zpravodajstvi/"))
    assert fetch(web.url("/private/intranet")).status == 200, "only robots.txt keeps a crawler out"


def test_write_fixture_config_is_a_loadable_configuration(tmp_path: Path) -> None:
    dest = write_fixture_config(tmp_path / "config", "http://127.0.0.1:8123", smtp_port=2525)
    sources = load_sources(dest / "sources.yaml").sources
    assert [s.id for s in sources] == ["mocr", "zpravy", "ua"]
    assert all(s.interval.total_seconds() == 10 and s.max_pages == 5 for s in sources)
    assert sources[0].start_urls == ["http://127.0.0.1:8123/mocr/informacni-servis/zpravodajstvi/"]
    settings = load_settings(dest / "settings.yaml")
    assert settings.database == f"sqlite:///{(tmp_path / 'config' / 'hlidka.db').resolve()}"
    assert settings.default_channels == ["analysts-email"]
    assert "smtp=127.0.0.1&port=2525" in settings.channels["analysts-email"].url
    shipped = sorted(p.name for p in (Path(config.__file__).parent / "watchlists").glob("*.yaml"))
    assert sorted(p.name for p in (dest / "watchlists").glob("*.yaml")) == shipped


def test_write_fixture_config_without_smtp_has_no_channel(tmp_path: Path) -> None:
    dest = write_fixture_config(tmp_path, "http://127.0.0.1:8123/")
    settings = yaml.safe_load((dest / "settings.yaml").read_text(encoding="utf-8"))
    assert "channels" not in settings and "default_channels" not in settings
    assert "//mocr" not in (dest / "sources.yaml").read_text(encoding="utf-8")
