"""``hlidka rematch``: edited watchlists re-run over stored articles, alerting only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from config import Config
from config.schema import Channel, Settings, Watchlist
from hlidka.db import Alert, Article, Database, Match
from pipelines.rematch import rematch

TEXTS = {
    "https://example.org/a": ("Rutte v Soulu", "Generální tajemník NATO jednal v Soulu s jihokorejským ministrem."),
    "https://example.org/b": ("Povodně", "Vojáci pomáhali při povodních na Moravě, stavěli hráze z pytlů s pískem."),
    "https://example.org/c": ("Taiwan", "Tchaj-wan posiluje obranu; Tchajwanská úžina je sledována."),
}


def make_config(tmp_path: Path, *watchlists: Watchlist) -> Config:
    settings = Settings(channels={"mail": Channel(url="mailto://localhost")}, default_channels=["mail"])
    return Config(tmp_path, settings, (), tuple(watchlists))


def store_articles(database: Database) -> None:
    with database.session() as session, session.begin():
        for url, (title, text) in TEXTS.items():
            article = Article(source_id="t", canonical_url=url, title=title, text=text, language="cs",
                              content_hash=url)
            session.add(article)
            session.flush()
            article.story_id = article.id


def matches(database: Database) -> set[tuple[str, str]]:
    with database.session() as session:
        return {(m.article.canonical_url[-1], m.watchlist_id) for m in session.scalars(select(Match))}


def test_rematch_backfills_updates_and_removes(database: Database, tmp_path: Path) -> None:
    store_articles(database)
    korea = Watchlist(id="korea", any=[{"term": "Korea"}, {"term": "jihokorej*"}])
    report = rematch(database, make_config(tmp_path, korea))
    assert (report.articles, report.added, report.alerts_queued) == (3, 1, 0)
    assert matches(database) == {("a", "korea")}

    taiwan = Watchlist(id="taiwan", any=[{"term": "tchaj-wan*"}, {"term": "tchajwan*"}])
    korea_edited = Watchlist(id="korea", any=[{"term": "Soul", "case": True}, {"term": "jihokorej*"}])
    report = rematch(database, make_config(tmp_path, korea_edited, taiwan))
    assert (report.added, report.updated, report.removed) == (1, 1, 0)
    assert matches(database) == {("a", "korea"), ("c", "taiwan")}
    with database.session() as session:
        assert session.scalars(select(Alert)).all() == [], "no alert unless asked"

    narrowed = Watchlist(id="korea", any=[{"term": "KLDR"}])
    report = rematch(database, make_config(tmp_path, narrowed, taiwan), watchlist_ids=["korea"])
    assert report.removed == 1
    assert matches(database) == {("c", "taiwan")}


def test_rematch_with_alert_queues_new_matches_once(database: Database, tmp_path: Path) -> None:
    store_articles(database)
    nato = Watchlist(id="nato", any=[{"term": "NATO"}])
    config = make_config(tmp_path, nato)
    assert rematch(database, config, alert=True).alerts_queued == 1
    assert rematch(database, config, alert=True).alerts_queued == 0, "an unchanged match is not new"
    with database.session() as session:
        [alert] = session.scalars(select(Alert)).all()
        assert (alert.watchlist_id, alert.channel, alert.status) == ("nato", "mail", "pending")


def test_unknown_watchlist_is_an_error(database: Database, tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        rematch(database, make_config(tmp_path), watchlist_ids=["nope"])
