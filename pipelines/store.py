"""Item pipeline: article, URLs, story, matches and alerts committed together, a batch at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scrapy.exceptions import DropItem
from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.outbox import queue_alerts_of
from config import Config
from crawler.items import ArticlePage
from hlidka.db import Article, Database, KnownUrl, Match, shared_database, utcnow
from pipelines.dedupe import Duplicate, UrlBook, known_urls, remember_urls, stored_texts
from pipelines.stories import StoryFinder, StoryMatch, index_articles, lock_stories
from pipelines.updates import store_update

logger = logging.getLogger(__name__)

_articles = Article.__table__
_INSERT_ARTICLE = insert(_articles).returning(_articles.c.id)
_INSERT_MATCHES = insert(Match.__table__)
_SET_STORY = update(_articles).where(_articles.c.id == bindparam("article_id")).values(story_id=bindparam("story_id"))


def record_rejected_url(database: Database, source_id: str, canonical: str, reason: str) -> None:
    """Remember a page that gave no article, and why, so it is visible and not refetched."""
    try:
        with database.session() as session, session.begin():
            session.add(KnownUrl(canonical_url=canonical, source_id=source_id, reason=reason))
    except IntegrityError:
        pass  # recorded already, by a concurrent run
    logger.warning("no article at %s: %s", canonical, reason)


@dataclass(frozen=True)
class Stored:
    """What became of one page in :func:`store_pages`: a new article, or a known one it repeats."""

    article_id: int
    duplicate: Duplicate | None = None
    #: The stored article the new one nearly repeats (its story), if any.
    story: StoryMatch | None = None
    alerts_queued: int = 0


def store_pages(session: Session, config: Config, pages: Sequence[ArticlePage], now: datetime | None = None) -> list[Stored]:
    """Store each extracted, matched page, in order, inside the caller's transaction.

    Holds the story lock, so no concurrent crawl can store a copy of the same
    story unseen. What the database knows of the whole batch (its URLs, text
    hashes and near-duplicate candidates) is read with a few queries first;
    pages are then settled one after the other, so a page repeating an earlier
    one of the same batch (the same article under two host names) finds it
    exactly as it would a committed one. Each new article is inserted as it is
    settled, for its id; every other row of the batch (stories, signatures,
    bands, URLs, matches, alerts) is written after, one statement per table:
    per page, the statements cost the crawl's reactor thread more CPU than the
    rows did.
    """
    dedupe = config.settings.dedupe
    since = (now or utcnow()) - dedupe.window
    lock_stories(session)
    keys_of = [page.url_keys | {page.canonical_url} for page in pages]
    urls = UrlBook(known_urls(session, set().union(*keys_of)))
    texts = stored_texts(session, {page.content_hash for page in pages})
    stories = StoryFinder(session, [page.signature for page in pages if page.signature is not None], since)
    results: list[Stored] = []
    new: list[tuple[int, int, ArticlePage]] = []
    for page, keys in zip(pages, keys_of):
        extracted, fingerprint = page.extracted, page.signature
        assert extracted is not None and fingerprint is not None, "StorePipeline runs after ExtractPipeline"
        duplicate = urls.duplicate(keys) or _same_text(texts, page.content_hash)
        if duplicate is not None:
            urls.claim(duplicate.article_id, keys, page.source_id)
            results.append(Stored(duplicate.article_id, duplicate=duplicate))
            continue
        article_id = session.execute(_INSERT_ARTICLE, {
            "source_id": page.source_id, "canonical_url": page.canonical_url, "title": extracted.title,
            "text": extracted.text, "language": extracted.language, "author": extracted.author,
            "published_at": extracted.published, "modified_at": extracted.modified, "fetched_at": page.fetched_at,
            "content_hash": page.content_hash,
        }).scalar_one()
        story = stories.find(fingerprint, dedupe.threshold)
        story_id = story.story_id if story else article_id
        stories.add(article_id, story_id, fingerprint)
        texts.setdefault(page.content_hash, article_id)
        urls.claim(article_id, keys, page.source_id)
        new.append((article_id, story_id, page))
        results.append(Stored(article_id, story=story))
    _write_rows(session, config, new, urls)
    queued = iter(queue_alerts_of(session, config, [(a, story_id, page.matches) for a, story_id, page in new]))
    return [result if result.duplicate else dataclasses.replace(result, alerts_queued=next(queued)) for result in results]


def _same_text(texts: dict[str, int], text_hash: str) -> Duplicate | None:
    article_id = texts.get(text_hash)
    return Duplicate(article_id, "same text as a stored article") if article_id else None


def _write_rows(session: Session, config: Config, new: Sequence[tuple[int, int, ArticlePage]], urls: UrlBook) -> None:
    """Every row but the articles themselves, for the whole batch: one statement per table."""
    if new:
        session.execute(_SET_STORY, [{"article_id": article_id, "story_id": story_id} for article_id, story_id, _ in new])
        index_articles(session, [(article_id, page.signature) for article_id, _, page in new if page.signature])
    urls.write(session)
    matches = [{"article_id": article_id, "watchlist_id": watchlist_id, "score": result.score,
                "hits": [hit.to_dict() for hit in result.hits]}
               for article_id, _, page in new for watchlist_id, result in page.matches.items()]
    if matches:
        session.execute(_INSERT_MATCHES, matches)


class StorePipeline:
    """Commits each article with its story, matches and queued alerts, or nothing of it.

    Under the story lock it settles whether a page is new: a page whose URL
    or text is stored already adds its URLs to that article; any other page is stored and joins the story of the
    article it nearly repeats, if any (``settings.yaml`` ``dedupe``). A
    re-checked page (``recheck_of``) goes to :func:`store_update` instead.

    Pages are written in batches, one transaction each: every
    ``HLIDKA_STORE_BATCH_SIZE`` pages, or ``HLIDKA_STORE_BATCH_WAIT`` seconds
    after the first page of a batch arrived. A transaction, a lock and a commit
    per page cost more CPU in the crawl's reactor thread than the rows do
    (``bench/crawl.py``), and a page is acknowledged (its item done) only
    after its batch committed, so nothing is reported stored that is not. If
    a batch fails on a unique key (another crawl stored one of its pages
    meanwhile), each page is written again on its own, so only that page is
    dropped.
    """

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.config: Config = crawler.settings["HLIDKA_CONFIG"]
        self.database = shared_database(crawler.settings["HLIDKA_DATABASE_URL"])
        self.batch_size = max(1, crawler.settings.getint("HLIDKA_STORE_BATCH_SIZE"))
        self.batch_wait = crawler.settings.getfloat("HLIDKA_STORE_BATCH_WAIT")
        self._batch: list[tuple[ArticlePage, asyncio.Future[Stored]]] = []
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        return cls(crawler)

    async def process_item(self, item: ArticlePage) -> ArticlePage:
        if item.recheck_of is not None:
            return self._store_update(item)
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[Stored] = loop.create_future()
        self._batch.append((item, stored))
        if len(self._batch) >= self.batch_size:
            self._write_batch()
        elif self._timer is None:
            self._timer = loop.call_later(self.batch_wait, self._write_batch)
        return self._report(item, await stored)

    def _write_batch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch = self._batch, []
        pages = [page for page, _ in batch]
        try:
            outcomes: list[Stored | BaseException] = list(self._commit(pages))
        except IntegrityError:
            outcomes = [self._commit_alone(page) for page in pages] if len(pages) > 1 else [self._stored_concurrently(pages[0])]
        except Exception as exc:  # the database is down or locked: every page of the batch fails alike
            outcomes = [exc] * len(pages)
        for (_, stored), outcome in zip(batch, outcomes):
            if isinstance(outcome, BaseException):
                stored.set_exception(outcome)
            else:
                stored.set_result(outcome)

    def _commit(self, pages: Sequence[ArticlePage]) -> list[Stored]:
        with self.database.session() as session, session.begin():
            return store_pages(session, self.config, pages)

    def _commit_alone(self, page: ArticlePage) -> Stored | BaseException:
        try:
            return self._commit([page])[0]
        except IntegrityError:
            return self._stored_concurrently(page)
        except Exception as exc:
            return exc

    @staticmethod
    def _stored_concurrently(page: ArticlePage) -> DropItem:
        return DropItem(f"{page.url}: stored concurrently by another crawl")

    def _report(self, item: ArticlePage, stored: Stored) -> ArticlePage:
        if stored.duplicate is not None:
            self.crawler.stats.inc_value("hlidka/articles_duplicate")
            raise DropItem(f"{item.url}: {stored.duplicate.reason} (article {stored.article_id})")
        self.crawler.stats.inc_value("hlidka/articles_new")
        self.crawler.stats.inc_value("hlidka/alerts_queued", stored.alerts_queued)
        if logger.isEnabledFor(logging.INFO):
            story = stored.story
            logger.info("stored %s (%s) story=%s matches=%s alerts=%d", item.canonical_url, item.extracted.language,
                        f"{story.story_id} (similarity {story.similarity:.2f} to {story.article_id})" if story else "new",
                        ",".join(item.matches) or "-", stored.alerts_queued)
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
