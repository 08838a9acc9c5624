"""The whole path on real parts: fixture site over HTTP → crawl → SQLite → email over SMTP.

Crawls run in a child process, as the service runs them (the Twisted reactor
starts once per process).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config import load_config
from hlidka.db import Alert, Article, CrawlRun, Match, open_database
from hlidka.fixtureweb import FixtureWeb, write_fixture_config
from hlidka.mailsink import MailSink


@pytest.fixture
def config_dir(tmp_path: Path, web: FixtureWeb, mail: MailSink) -> Path:
    directory = tmp_path / "config"
    write_fixture_config(directory, web.base_url, smtp_port=mail.port)
    return directory


def hlidka(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "hlidka", *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"hlidka {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_crawl_stores_matches_and_emails_then_second_crawl_sends_nothing(
    config_dir: Path, web: FixtureWeb, mail: MailSink
) -> None:
    hlidka("crawl", "--config", str(config_dir))
    config = load_config(config_dir)
    database = open_database(config.database_url)
    with database.session() as session:
        articles = {a.title: a for a in session.scalars(select(Article))}
        matched = {(m.article.title, m.watchlist_id) for m in session.scalars(select(Match))}
        runs = session.scalars(select(CrawlRun)).all()
        alerts = session.scalars(select(Alert)).all()
    assert len(articles) >= 12
    assert {r.status for r in runs} == {"ok"}
    seed_004 = next(title for title in articles if "Умєров" in title)
    assert (seed_004, "korea") in matched and (seed_004, "nato") not in matched
    assert all(a.status == "sent" for a in alerts) and alerts

    mail.wait_for(len(alerts), timeout=30)
    assert len(mail.messages) == len(alerts)
    korea_mails = [m for m in mail.messages if seed_004 in m.subject]
    assert len(korea_mails) == 1
    message = korea_mails[0]
    korea_name = next(w.name for w in config.watchlists if w.id == "korea")
    assert message.subject == f"[{korea_name}] {seed_004}"
    url = articles[seed_004].canonical_url
    assert url in message.text and url in message.html
    assert "Південної Кореї" in message.text

    article_requests = web.count("/ua/") + web.count("/mocr/") + web.count("/zpravy/")
    hlidka("crawl", "--config", str(config_dir))
    with database.session() as session:
        assert session.scalar(select(func.count(Article.id))) == len(articles)
        assert session.scalar(select(func.count(Alert.id))) == len(alerts)
    assert len(mail.messages) == len(alerts), "an unchanged site must not alert again"
    revisit_requests = web.count("/ua/") + web.count("/mocr/") + web.count("/zpravy/") - article_requests
    assert revisit_requests <= 6, "a revisit reads listings/feeds only, no known article"
    database.dispose()


def test_new_article_alerts_alone(config_dir: Path, web: FixtureWeb, mail: MailSink) -> None:
    hlidka("crawl", "--config", str(config_dir))
    before = len(mail.messages)
    web.publish("mocr", {
        "title": "Ministr obrany jednal v Soulu o spolupráci s Korejskou republikou",
        "text": ("Ministr obrany dnes v Soulu jednal se svým jihokorejským protějškem o prohloubení "
                 "obranné spolupráce. Korejská republika je pro Českou republiku klíčovým partnerem "
                 "v Asii. Obě strany se dohodly na pokračování konzultací.") * 2,
    })
    hlidka("crawl", "--config", str(config_dir))
    mail.wait_for(before + 1, timeout=30)
    new = mail.messages[before:]
    assert [m.subject for m in new] == [m.subject for m in new if "Soulu" in m.subject]
    assert len(new) == 1
