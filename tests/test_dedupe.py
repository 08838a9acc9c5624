"""One article, one story, one alert: exact duplicates, near duplicates and updates, on SQLite and PostgreSQL.

Items go through the real item pipelines (dedupe → match → store) with a real
Scrapy crawler object and the shipped watchlists; the pages are the fixture
web's, extracted as the crawl extracts them. The last test crawls the MoD's
article on its two host names for real.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import OperationalError, ProgrammingError

from config import Config, check_config, load_config
from crawler.items import ArticlePage
from crawler.urls import alias_map, canonical_url
from hlidka.db import Alert, Article, Database, KnownUrl, Match, open_database, shared_database, utcnow
from hlidka.db.models import ArticleBand, ArticleSignature, ArticleVersion
from hlidka.fixtureweb import FixtureWeb, lab_sources, write_fixture_config
from hlidka.fixtureweb.lab import MOCR_ALIAS, MOCR_HOST
from pipelines.dedupe import DedupePipeline
from pipelines.extraction import Extracted, extract_article
from pipelines.match import MatchPipeline
from pipelines.matching import Matcher
from pipelines.neardup import content_hash, signature
from pipelines.stories import find_story, lock_stories, prune_index
from pipelines.store import StorePipeline, record_rejected_url
from pipelines.updates import store_update

PATH = "/informacni-servis/zpravodajstvi/"


@pytest.fixture(scope="module")
def pages() -> Iterator[dict[str, Extracted]]:
    """The seed articles as the crawl extracts them, by seed number."""
    with FixtureWeb() as web:
        extracted = {}
        for site in web.sites:
            for article in web.articles(site):
                if article.seed:
                    url = web.article_url(site, article)
                    with urllib.request.urlopen(url, timeout=10) as response:
                        extracted[article.seed] = extract_article(response.read(), url)
    yield extracted


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The shipped watchlists with one email channel (alerts are only queued here)."""
    return load_config(write_fixture_config(tmp_path_factory.mktemp("dedupe") / "config", "http://127.0.0.1:9", 9))


class Chain:
    """The item pipelines from dedupe to store, as Scrapy builds them for one crawl.

    ``batch`` is how many pages the store writes in one transaction (``HLIDKA_STORE_BATCH_SIZE``).
    """

    def __init__(self, config: Config, database_url: str, batch: int = 1):
        self.crawler = get_crawler(settings_dict={"HLIDKA_CONFIG": config, "HLIDKA_DATABASE_URL": database_url,
                                                  "HLIDKA_STORE_BATCH_SIZE": batch, "HLIDKA_STORE_BATCH_WAIT": 0.5})
        self.stages = [cls.from_crawler(self.crawler) for cls in (DedupePipeline, MatchPipeline, StorePipeline)]

    def feed(self, item: ArticlePage) -> str:
        """"stored", or the reason the item was dropped."""
        return self.feed_together([item])[0]

    def feed_together(self, items: list[ArticlePage]) -> list[str]:
        """Items in flight at once, as a crawl has them: the store may write them in one batch."""
        async def all_items() -> list[str]:
            return list(await asyncio.gather(*(self._through(i) for i in items)))
        return asyncio.run(all_items())

    async def _through(self, item: ArticlePage) -> str:
        try:
            for stage in self.stages:
                result = stage.process_item(item)
                item = await result if inspect.isawaitable(result) else result
        except DropItem as dropped:
            return str(dropped)
        return "stored"


def item(extracted: Extracted, url: str, source: str = "mocr", aliases: dict[str, str] | None = None,
         **changes: object) -> ArticlePage:
    page = dataclasses.replace(extracted, canonical_url=None, **changes)  # type: ignore[arg-type]
    key = canonical_url(url, aliases)
    return ArticlePage(source_id=source, url=url, canonical_url=key, url_keys={key}, html=b"", language_hint="cs",
                       fetched_at=utcnow(), aliases=aliases or {}, extracted=page,
                       content_hash=content_hash(page.title, page.text), signature=signature(page.text))


def alerts(database: Database) -> list[tuple[int, str]]:
    with database.session() as session:
        return sorted((a, w) for a, w in session.execute(select(Alert.article_id, Alert.watchlist_id)))


def matched(database: Database, article_id: int) -> set[str]:
    with database.session() as session:
        return set(session.scalars(select(Match.watchlist_id).where(Match.article_id == article_id)))


def articles(database: Database) -> list[Article]:
    with database.session() as session:
        return list(session.scalars(select(Article).order_by(Article.id)))


def test_dedupe_settings_errors_name_file_line_and_field(tmp_path: Path) -> None:
    directory = write_fixture_config(tmp_path / "config", "http://127.0.0.1:9", 9)
    settings = directory / "settings.yaml"
    settings.write_text(settings.read_text(encoding="utf-8") + "dedupe:\n  threshold: 0.1\n  window: 2 weeks\n",
                        encoding="utf-8")
    lines = settings.read_text(encoding="utf-8").splitlines()
    config, issues = check_config(directory)
    assert config is None
    found = {(i.path.name, i.line, i.field) for i in issues}
    assert found == {("settings.yaml", lines.index("  threshold: 0.1") + 1, "dedupe.threshold"),
                     ("settings.yaml", lines.index("  window: 2 weeks") + 1, "dedupe.window")}


# --------------------------------------------------------------------------- exact duplicates


def test_same_article_on_two_hosts_is_one_article_with_both_urls_and_one_alert(
    database: Database, database_url: str, config: Config, pages: dict[str, Extracted]
) -> None:
    chain = Chain(config, database_url)
    new_host = f"https://mocr.mo.gov.cz{PATH}namestek-jednal-254369"
    old_host = f"http://mocr.army.cz{PATH}namestek-jednal-254369?utm_source=fb"
    assert chain.feed(item(pages["000"], new_host)) == "stored"
    first_alerts = alerts(database)
    assert {w for _, w in first_alerts} >= {"korea"}
    dropped = chain.feed(item(pages["000"], old_host, source="mocr-old"))
    assert "same text as a stored article" in dropped
    [article] = articles(database)
    with database.session() as session:
        urls = set(session.scalars(select(KnownUrl.canonical_url).where(KnownUrl.article_id == article.id)))
    assert urls == {canonical_url(new_host), canonical_url(old_host)}
    assert alerts(database) == first_alerts, "a copy under another URL alerts nothing"


def test_alias_hosts_make_one_key(database: Database, database_url: str, config: Config,
                                  pages: dict[str, Extracted]) -> None:
    aliases = alias_map([f"https://mocr.mo.gov.cz{PATH}"], ["mocr.army.cz"])
    chain = Chain(config, database_url)
    assert chain.feed(item(pages["001"], f"https://mocr.mo.gov.cz{PATH}seoul-253636", aliases=aliases)) == "stored"
    retitled = item(pages["001"], f"http://www.mocr.army.cz{PATH}seoul-253636/", aliases=aliases, title="Jiný titulek")
    assert "URL already stored" in chain.feed(retitled)
    assert len(articles(database)) == 1 and len(alerts(database)) == len(matched(database, articles(database)[0].id))


# --------------------------------------------------------------------------- near duplicates


def edited_copy(original: Extracted) -> ArticlePage:
    """Another outlet's light edit of the Ukrainian MoD's article, mentioning NATO besides."""
    text = original.text.replace("Умєров", "Рустем Умєров", 1) + (
        "\nУ Сеулі міністр також обговорив співпрацю з партнерами по НАТО.")
    return item(original, "https://www.ukrinform.ua/rubric-defense/3921-umerov-u-seuli.html", source="ukrinform",
                title="Умєров провів у Сеулі переговори з Юн Сок Йолем", text=text)


def test_lightly_edited_republication_joins_the_story_and_alerts_only_new_watchlists(
    database: Database, database_url: str, config: Config, pages: dict[str, Extracted]
) -> None:
    chain = Chain(config, database_url)
    original = pages["004"]
    assert chain.feed(item(original, "https://www.mil.gov.ua/news/2024/10/29/umerov-seul/")) == "stored"
    assert chain.feed(edited_copy(original)) == "stored"
    first, second = articles(database)
    assert second.story_id == first.id and first.story_id == first.id
    before, after = matched(database, first.id), matched(database, second.id)
    assert before == {"korea"} and after == {"korea", "nato"}
    assert {w for a, w in alerts(database) if a == second.id} == {"nato"}, \
        "the later member alerts only the watchlist the story has not alerted"


def test_different_articles_on_one_topic_stay_apart(database: Database, database_url: str, config: Config,
                                                    pages: dict[str, Extracted]) -> None:
    chain = Chain(config, database_url)
    assert chain.feed(item(pages["000"], f"https://mocr.mo.gov.cz{PATH}jednani-254369")) == "stored"
    assert chain.feed(item(pages["001"], f"https://mocr.mo.gov.cz{PATH}seoul-253636")) == "stored"
    first, second = articles(database)
    assert (first.story_id, second.story_id) == (first.id, second.id)
    assert {w for a, w in alerts(database) if a == second.id} >= {"korea"}, "a new story alerts again"


def commits(database: Database) -> list[int]:
    """A counter of the transactions committed on ``database`` from now on."""
    counted: list[int] = []
    event.listen(database.engine, "commit", lambda connection: counted.append(1))
    return counted


def test_pages_of_one_batch_settle_copies_among_themselves_in_one_transaction(
    database: Database, database_url: str, config: Config, pages: dict[str, Extracted]
) -> None:
    """Pages in flight together are written together, and judged as if they had come one by one."""
    chain = Chain(config, database_url, batch=10)
    counted = commits(shared_database(database_url))
    new_host = f"https://mocr.mo.gov.cz{PATH}namestek-jednal-254369"
    outcomes = chain.feed_together([
        item(pages["000"], new_host),
        item(pages["004"], "https://www.mil.gov.ua/news/2024/10/29/umerov-seul/"),
        item(pages["000"], f"http://mocr.army.cz{PATH}namestek-jednal-254369", source="mocr-old"),
        edited_copy(pages["004"]),
        item(pages["001"], f"https://mocr.mo.gov.cz{PATH}seoul-253636"),
    ])
    assert outcomes[:2] == ["stored", "stored"] and outcomes[3:] == ["stored", "stored"]
    assert "same text as a stored article" in outcomes[2]
    assert len(counted) == 1, "five pages, one transaction"
    mod, ukraine, copy, seoul = articles(database)
    assert [a.story_id for a in (mod, ukraine, copy, seoul)] == [mod.id, ukraine.id, ukraine.id, seoul.id]
    queued = alerts(database)
    assert {w for a, w in queued if a == copy.id} == {"nato"}, "the copy alerts only what its story had not"
    assert {w for a, w in queued if a == mod.id} == matched(database, mod.id)
    assert len(queued) == sum(len(matched(database, a.id)) for a in (mod, ukraine, seoul)) + 1


def test_a_batch_links_a_url_recorded_without_an_article_and_settles_a_key_two_pages_share(
    database: Database, database_url: str, config: Config, pages: dict[str, Extracted]
) -> None:
    """The seen-URL store as the batch left it: each key once, each leading to the first article found there."""
    redirect = canonical_url("https://mocr.mo.gov.cz/r/254369")
    record_rejected_url(shared_database(database_url), "mocr", redirect, "redirect to the article")
    first = item(pages["000"], f"https://mocr.mo.gov.cz{PATH}namestek-jednal-254369")
    first.url_keys.add(redirect)
    second = item(pages["002"], "https://zpravy.example.cz/rutte")
    second.url_keys.add(redirect)
    outcomes = Chain(config, database_url, batch=10).feed_together([first, second])
    assert outcomes[0] == "stored" and "URL already stored" in outcomes[1]
    [article] = articles(database)
    with database.session() as session:
        rows = {u.canonical_url: (u.article_id, u.reason) for u in session.scalars(select(KnownUrl))}
    assert rows == {first.canonical_url: (article.id, None), redirect: (article.id, None),
                    second.canonical_url: (article.id, None)}


def refuse_title(database: Database, title: str) -> None:
    """Make the database reject one article on a unique key, as if another crawl had just stored it."""
    title = title.replace("'", "''")  # a literal inside the trigger's SQL, which takes no parameters
    with database.session() as session, session.begin():
        if database.engine.dialect.name == "sqlite":
            session.execute(text(f"""CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.title = '{title}'
                                     BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed'); END"""))
        else:
            session.execute(text(f"""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                                     BEGIN IF NEW.title = '{title}' THEN
                                       RAISE EXCEPTION 'duplicate key' USING ERRCODE = 'unique_violation';
                                     END IF; RETURN NEW; END $$"""))
            session.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON articles FOR EACH ROW EXECUTE FUNCTION refuse()"))


def test_a_page_refused_on_a_unique_key_drops_only_itself_from_its_batch(
    database: Database, database_url: str, config: Config, pages: dict[str, Extracted]
) -> None:
    refuse_title(database, pages["001"].title)
    chain = Chain(config, database_url, batch=10)
    outcomes = chain.feed_together([item(pages["000"], f"https://mocr.mo.gov.cz{PATH}jednani-254369"),
                                    item(pages["001"], f"https://mocr.mo.gov.cz{PATH}seoul-253636"),
                                    item(pages["002"], "https://zpravy.example.cz/rutte")])
    assert outcomes[0] == "stored" and outcomes[2] == "stored"
    assert "stored concurrently by another crawl" in outcomes[1]
    stored_titles = [a.title for a in articles(database)]
    assert stored_titles == [pages["000"].title, pages["002"].title]
    assert {a for a, _ in alerts(database)} <= {a.id for a in articles(database)}, "no alert of the refused page"


def test_a_database_failure_fails_every_page_of_the_batch_and_stores_none(
    database: Database, database_url: str, config: Config, pages: dict[str, Extracted]
) -> None:
    with database.session() as session, session.begin():
        session.execute(text("DROP TABLE matches"))
    chain = Chain(config, database_url, batch=10)
    with pytest.raises(OperationalError if database.engine.dialect.name == "sqlite" else ProgrammingError):
        chain.feed_together([item(pages["000"], f"https://mocr.mo.gov.cz{PATH}jednani-254369"),
                             item(pages["002"], "https://zpravy.example.cz/rutte")])
    assert articles(database) == [] and alerts(database) == []


def test_window_bounds_the_comparison_and_prune_empties_the_index(
    database: Database, database_url: str, config: Config, pages: dict[str, Extracted]
) -> None:
    chain = Chain(config, database_url)
    assert chain.feed(item(pages["002"], "https://zpravy.example.cz/rutte")) == "stored"
    window = config.settings.dedupe.window
    with database.session() as session, session.begin():
        session.execute(update(Article).values(fetched_at=utcnow() - window - timedelta(hours=1)))
    sig = signature(pages["002"].text)
    with database.session() as session, session.begin():
        assert find_story(session, sig, 0.5, utcnow() - window) is None
        assert find_story(session, sig, 0.5, utcnow() - 2 * window) is not None
        assert prune_index(session, utcnow() - window) > 0
        assert session.scalar(select(func.count()).select_from(ArticleBand)) == 0
        assert session.scalar(select(func.count()).select_from(ArticleSignature)) == 1
    copy = item(pages["002"], "https://other.example.cz/rutte", source="other", title="Rutte o KLDR")
    assert chain.feed(copy) == "stored"
    assert [a.story_id for a in articles(database)] == [a.id for a in articles(database)], "too old to join"


def test_story_lock_serialises_concurrent_stores(database: Database) -> None:
    """While one store holds the lock, another cannot take it (it would wait, here it gives up at once)."""
    with database.session() as holder, holder.begin():
        lock_stories(holder)
        outcome: list[BaseException | None] = []

        def contender() -> None:
            with database.session() as session:
                try:
                    with session.begin():
                        if database.engine.dialect.name == "sqlite":
                            session.execute(text("PRAGMA busy_timeout = 0"))
                        else:
                            session.execute(text("SET LOCAL lock_timeout = '50ms'"))
                        lock_stories(session)
                    outcome.append(None)
                except OperationalError as exc:
                    outcome.append(exc)

        thread = threading.Thread(target=contender)
        thread.start()
        thread.join(timeout=30)
    assert outcome and isinstance(outcome[0], OperationalError), outcome


# --------------------------------------------------------------------------- updates


def stored(database: Database, chain: Chain, extracted: Extracted, url: str) -> int:
    assert chain.feed(item(extracted, url)) == "stored"
    return articles(database)[-1].id


def new_version(database: Database, config: Config, article_id: int, extracted: Extracted):  # type: ignore[no-untyped-def]
    results = Matcher(config.watchlists).match(title=extracted.title, text=extracted.text, language=extracted.language)
    with database.session() as session, session.begin():
        lock_stories(session)
        return store_update(session, config, session.get_one(Article, article_id), extracted, results)


def test_update_keeps_versions_and_alerts_only_a_newly_matched_watchlist(
    database: Database, database_url: str, config: Config, pages: dict[str, Extracted]
) -> None:
    chain = Chain(config, database_url)
    article_id = stored(database, chain, pages["004"], "https://www.mil.gov.ua/news/2024/10/29/umerov-seul/")
    before = matched(database, article_id)
    assert "korea" in before and "nato" not in before
    queued = alerts(database)

    same = new_version(database, config, article_id, pages["004"])
    assert not same.changed and alerts(database) == queued

    typo = dataclasses.replace(pages["004"], text=pages["004"].text.replace("Умєров", "Рустем Умєров", 1))
    fixed = new_version(database, config, article_id, typo)
    assert fixed.changed and fixed.version == 2 and fixed.newly_matched == () and fixed.alerts_queued == 0
    assert alerts(database) == queued, "a corrected text alerts nothing"

    extended = dataclasses.replace(typo, text=typo.text + "\nПісля зустрічі сторони обговорили співпрацю з НАТО.")
    grown = new_version(database, config, article_id, extended)
    assert grown.changed and grown.version == 3 and grown.newly_matched == ("nato",) and grown.alerts_queued == 1
    assert set(alerts(database)) - set(queued) == {(article_id, "nato")}
    with database.session() as session:
        article = session.get_one(Article, article_id)
        versions = session.scalars(select(ArticleVersion).where(ArticleVersion.article_id == article_id)
                                   .order_by(ArticleVersion.version)).all()
        assert article.text == extended.text and article.version == 3
        assert [(v.version, v.text) for v in versions] == [(1, pages["004"].text), (2, typo.text)]
    assert matched(database, article_id) == before | {"nato"}


def test_recheck_item_goes_through_the_pipelines_as_an_update(
    database: Database, database_url: str, config: Config, pages: dict[str, Extracted]
) -> None:
    chain = Chain(config, database_url)
    url = "https://www.mil.gov.ua/news/2024/10/29/umerov-seul/"
    article_id = stored(database, chain, pages["004"], url)
    assert "text unchanged" in chain.feed(dataclasses.replace(item(pages["004"], url), recheck_of=article_id))
    changed = dataclasses.replace(pages["004"], text=pages["004"].text + "\nОновлено: додано коментар НАТО.")
    assert chain.feed(dataclasses.replace(item(changed, url), recheck_of=article_id)) == "stored"
    assert len(articles(database)) == 1 and articles(database)[0].version == 2
    assert (article_id, "nato") in alerts(database)


# --------------------------------------------------------------------------- the real crawl


@pytest.fixture(scope="module")
def two_host_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FixtureWeb, Path]]:
    """Two sources, one per host name of the MoD, neither knowing the other is an alias."""
    with FixtureWeb() as web:
        web.publish("mocr", {
            "title": "Ministr obrany jednal v Soulu o spolupráci s Korejskou republikou",
            "text": ("Ministr obrany dnes v Soulu jednal se svým jihokorejským protějškem o prohloubení obranné "
                     "spolupráce. Korejská republika je pro Českou republiku klíčovým partnerem v Asii. "
                     "Obě strany se dohodly na pokračování konzultací.") * 2,
        })
        port = web.base_url.rsplit(":", 1)[1]
        hosts = next(s for s in lab_sources(web.base_url) if s["id"] == "lab-hosts")
        sources = [{**hosts, "id": "mod-new", "alias_hosts": []},
                   {**hosts, "id": "mod-old", "alias_hosts": [], "start_urls": [f"http://{MOCR_ALIAS}:{port}/lab/hosts/"]}]
        config_dir = write_fixture_config(tmp_path_factory.mktemp("hosts") / "config", web.base_url, smtp_port=9,
                                          sources=sources, crawl={"resolve": {MOCR_HOST: "127.0.0.1",
                                                                              MOCR_ALIAS: "127.0.0.1"}})
        result = subprocess.run([sys.executable, "-m", "hlidka", "crawl", "--no-send", "--config", str(config_dir)],
                                capture_output=True, text=True, timeout=240)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-4000:]}"
        yield web, config_dir


def test_crawl_of_both_host_names_stores_one_article_and_queues_one_alert(two_host_crawl: tuple) -> None:
    web, config_dir = two_host_crawl
    newest = web.sites["mocr"].article_path(web.articles("mocr")[0])
    fetched_hosts = {h.host.split(":")[0] for h in web.hits if h.path == newest}
    assert fetched_hosts == {MOCR_HOST, MOCR_ALIAS}, "each source fetched the page on its own host name"
    database = open_database(f"sqlite:///{config_dir / 'hlidka.db'}")
    with database.session() as session:
        copies = session.scalars(select(Article).where(Article.canonical_url.like(f"%{newest}"))).all()
        assert len(copies) == 1
        urls = set(session.scalars(select(KnownUrl.canonical_url).where(KnownUrl.article_id == copies[0].id)))
        korea = session.scalars(select(Alert).where(Alert.article_id == copies[0].id,
                                                    Alert.watchlist_id == "korea")).all()
    database.dispose()
    assert {u.split("/")[2].split(":")[0] for u in urls} == {MOCR_HOST, MOCR_ALIAS}
    assert len(korea) == 1
