"""Item pipeline: article, URLs, story, matches and alerts in one transaction."""

from __future__ import annotations

import logging
from typing import Any

from scrapy.exceptions import DropItem
from sqlalchemy.exc import IntegrityError

from alerts.outbox import queue_alerts
from config import Config
from crawler.items import ArticlePage
from hlidka.db import Article, Database, KnownUrl, Match, shared_database, utcnow
from pipelines.dedupe import find_duplicate, remember_urls
from pipelines.neardup import signature
from pipelines.stories import assign_story, lock_stories
from pipelines.updates import store_update

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
        modified_at=extracted.modified,
        fetched_at=item.fetched_at,
        content_hash=item.content_hash,
    )


class StorePipeline:
    """Commits the article with its story, matches and queued alerts, or nothing at all.

    Under the story lock it settles, for good, what the dedupe pipeline only
    checked early: a page whose URL or text is stored already adds its URLs
    to that article; any other page is stored and joins the story of the
    article it nearly repeats, if any (``settings.yaml`` ``dedupe``). A
    re-checked page (``recheck_of``) goes to :func:`store_update` instead.
    """

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.config: Config = crawler.settings["HLIDKA_CONFIG"]
        self.database = shared_database(crawler.settings["HLIDKA_DATABASE_URL"])

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        return cls(crawler)

    def process_item(self, item: ArticlePage) -> ArticlePage:
        if item.recheck_of is not None:
            return self._store_update(item)
        assert item.extracted is not None
        fingerprint = signature(item.extracted.text)  # a few ms of CPU: not while holding the lock
        dedupe = self.config.settings.dedupe
        keys = item.url_keys | {item.canonical_url}
        story, queued = None, 0
        try:
            with self.database.session() as session, session.begin():
                lock_stories(session)
                duplicate = find_duplicate(session, keys, item.content_hash)
                if duplicate is not None:
                    remember_urls(session, duplicate.article_id, keys, item.source_id)
                else:
                    article = article_from_item(item)
                    session.add(article)
                    session.flush()
                    story = assign_story(session, article, fingerprint, dedupe.threshold, utcnow() - dedupe.window)
                    remember_urls(session, article.id, keys, item.source_id)
                    for watchlist_id, result in item.matches.items():
                        session.add(Match(article_id=article.id, watchlist_id=watchlist_id,
                                          score=result.score, hits=[h.to_dict() for h in result.hits]))
                    queued = queue_alerts(session, self.config, article, item.matches)
        except IntegrityError as exc:
            raise DropItem(f"{item.url}: stored concurrently ({exc.orig})") from None
        if duplicate is not None:
            self.crawler.stats.inc_value("hlidka/articles_duplicate")
            raise DropItem(f"{item.url}: {duplicate.reason} (article {duplicate.article_id})")
        self.crawler.stats.inc_value("hlidka/articles_new")
        self.crawler.stats.inc_value("hlidka/alerts_queued", queued)
        logger.info("stored %s (%s) story=%s matches=%s alerts=%d", item.canonical_url, article.language,
                    f"{story.story_id} (similarity {story.similarity:.2f} to {story.article_id})" if story else "new",
                    ",".join(item.matches) or "-", queued)
        return item

    def _store_update(self, item: ArticlePage) -> ArticlePage:
        assert item.extracted is not None and item.recheck_of is not None
        with self.database.session() as session, session.begin():
            lock_stories(session)
            article = session.get(Article, item.recheck_of)
            result = store_update(session, self.config, article, item.extracted, item.matches) if article else None
            if article is not None:
                remember_urls(session, article.id, item.url_keys | {item.canonical_url}, item.source_id)
        if result is None:
            raise DropItem(f"{item.url}: re-checked article {item.recheck_of} is no longer stored")
        if not result.changed:
            self.crawler.stats.inc_value("hlidka/recheck_same_text")
            raise DropItem(f"{item.url}: re-checked, text unchanged")
        self.crawler.stats.inc_value("hlidka/articles_updated")
        self.crawler.stats.inc_value("hlidka/alerts_queued", result.alerts_queued)
        logger.info("updated %s to version %d, newly matches %s, alerts=%d", item.canonical_url, result.version,
                    ",".join(result.newly_matched) or "-", result.alerts_queued)
        return item
