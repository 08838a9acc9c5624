"""Item pipeline: article, URLs, matches and alerts in one transaction."""

from __future__ import annotations

import logging
from typing import Any

from scrapy.exceptions import DropItem
from sqlalchemy.exc import IntegrityError

from alerts.outbox import queue_alerts
from config import Config
from crawler.items import ArticlePage
from hlidka.db import Article, Database, KnownUrl, Match, shared_database

logger = logging.getLogger(__name__)


def record_rejected_url(database: Database, source_id: str, canonical: str, reason: str) -> None:
    """Remember a page that gave no article, and why, so it is visible and not refetched."""
    try:
        with database.session() as session, session.begin():
            session.add(KnownUrl(canonical_url=canonical, source_id=source_id, reason=reason))
    except IntegrityError:
        pass  # recorded already, by a concurrent run
    logger.warning("no article at %s: %s", canonical, reason)


def article_from_item(item: ArticlePage) -> Article:
    extracted = item.extracted
    assert extracted is not None
    return Article(
        source_id=item.source_id,
        canonical_url=item.canonical_url,
        title=extracted.title,
        text=extracted.text,
        language=extracted.language,
        author=extracted.author,
        published_at=extracted.published,
        fetched_at=item.fetched_at,
        content_hash=item.content_hash,
    )


class StorePipeline:
    """Commits the article with its matches and queued alerts, or nothing at all."""

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.config: Config = crawler.settings["HLIDKA_CONFIG"]
        self.database = shared_database(crawler.settings["HLIDKA_DATABASE_URL"])

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        return cls(crawler)

    def process_item(self, item: ArticlePage) -> ArticlePage:
        try:
            with self.database.session() as session, session.begin():
                article = article_from_item(item)
                session.add(article)
                session.flush()
                article.story_id = article.id
                session.add_all(
                    KnownUrl(canonical_url=key, source_id=item.source_id, article_id=article.id)
                    for key in item.url_keys | {item.canonical_url}
                )
                for watchlist_id, result in item.matches.items():
                    session.add(Match(article_id=article.id, watchlist_id=watchlist_id,
                                      score=result.score, hits=[h.to_dict() for h in result.hits]))
                queued = queue_alerts(session, self.config, article, item.matches)
        except IntegrityError as exc:
            raise DropItem(f"{item.url}: stored concurrently ({exc.orig})") from None
        self.crawler.stats.inc_value("hlidka/articles_new")
        self.crawler.stats.inc_value("hlidka/alerts_queued", queued)
        logger.info("stored %s (%s) matches=%s alerts=%d", item.canonical_url, article.language,
                    ",".join(item.matches) or "-", queued)
        return item
