"""What Hlídka remembers: URLs seen, articles, matches, the alert outbox and crawl runs.

The alert table is a transactional outbox: alert rows are written in the same
transaction as the article and its matches, and a unique ``dedupe_key`` per
(story, watchlist, channel) makes a second alert for the same story
impossible whatever crashes or double runs happen around it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, TypeDecorator, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store naive UTC, hand back aware UTC: SQLite keeps no zone, PostgreSQL would shift it."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(String(100), index=True)
    canonical_url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(8))
    author: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    #: The first article of the story this one belongs to (itself for a new story).
    story_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"), index=True)
    #: When the page says it was last modified (article:modified_time, dateModified).
    modified_at: Mapped[datetime | None]
    #: 1 for the text first stored; +1 for each changed text a re-check stored (see ArticleVersion).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    urls: Mapped[list[KnownUrl]] = relationship(back_populates="article")
    matches: Mapped[list[Match]] = relationship(back_populates="article", cascade="all, delete-orphan")


class ArticleVersion(Base):
    """A text an article had before a re-check stored a changed one: what earlier alerts were about."""

    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    modified_at: Mapped[datetime | None]
    #: When a re-check fetched the text that replaced this one (version 1 was fetched at Article.fetched_at).
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleSignature(Base):
    """The MinHash of an article's current text (pipelines.neardup), kept to compare later articles with."""

    __tablename__ = "article_signatures"

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), primary_key=True)
    minhash: Mapped[bytes] = mapped_column(LargeBinary)
    shingles: Mapped[int] = mapped_column(Integer)


class ArticleBand(Base):
    """One LSH band key of an article's signature: the on-disk near-duplicate index.

    Articles that share a key are candidates, then compared by signature. Rows
    exist only for articles inside the dedupe window (older ones are pruned).
    """

    __tablename__ = "article_bands"
    __table_args__ = (Index("ix_article_bands_article_id", "article_id"),)

    band_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), primary_key=True, autoincrement=False)


class StoryLock(Base):
    """One row that every article store updates first, so that crawls running in parallel
    settle duplicates and stories one at a time (a row lock on PostgreSQL, the write lock on SQLite)."""

    __tablename__ = "story_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    stored: Mapped[int] = mapped_column(Integer, default=0)


class KnownUrl(Base):
    """Every canonical URL Hlídka has fetched or decided about: the seen-URL store.

    A URL points at its article, or records why it gave none (``reason``), so
    that neither case is downloaded again on the next revisit.
    """

    __tablename__ = "known_urls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    canonical_url: Mapped[str] = mapped_column(String(2000), unique=True)
    source_id: Mapped[str] = mapped_column(String(100), index=True)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article | None] = relationship(back_populates="urls")


class Match(Base):
    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("article_id", "watchlist_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    watchlist_id: Mapped[str] = mapped_column(String(100), index=True)
    score: Mapped[float] = mapped_column(Float)
    #: Each hit: term, surface, field ('title'/'text'), start, end, kind.
    hits: Mapped[list[Any]]
    matched_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article] = relationship(back_populates="matches")


class Alert(Base):
    """One message owed to one channel. Sent only once apprise reports success."""

    __tablename__ = "alerts"
    #: The rate limit counts the messages a channel got lately.
    __table_args__ = (Index("ix_alerts_channel_sent_at", "channel", "sent_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    #: ``match``: an article for a watchlist; ``operations``: a notice for whoever runs Hlídka.
    kind: Mapped[str] = mapped_column(String(16), default="match", server_default="match")
    #: Set for ``match`` alerts only.
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"), index=True)
    watchlist_id: Mapped[str | None] = mapped_column(String(100))
    #: The words of an ``operations`` alert, written when it is queued.
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(100))
    #: pending → sending (claimed) → sent | failed
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    #: The message this alert went out in: alerts of one digest or folded burst share it.
    batch: Mapped[str | None] = mapped_column(String(36), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set by ``hlidka alerts retry``: the give-up age counts from here.
    retried_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]

    article: Mapped[Article | None] = relationship()


class CrawlRun(Base):
    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(String(100), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    #: running | ok | failed | interrupted (the service stopped during the run)
    status: Mapped[str] = mapped_column(String(16), default="running")
    pages: Mapped[int] = mapped_column(Integer, default=0)
    articles_found: Mapped[int] = mapped_column(Integer, default=0)
    articles_new: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    #: Article links on the listing pages read with a body; None when none was (all 304, or unreadable).
    #: Zero after a layout change is what source health looks for.
    article_links: Mapped[int | None] = mapped_column(Integer)
    #: Article pages fetched that gave no article text.
    articles_rejected: Mapped[int | None] = mapped_column(Integer)


class HttpValidator(Base):
    """The ETag / Last-Modified a listing, feed, sitemap or re-checked article was last fetched with.

    Sent back as If-None-Match / If-Modified-Since, they turn the revisit of an
    unchanged page into a bodiless 304. ``follow`` keeps the sitemaps a sitemap
    index listed, so they are still revalidated when the index itself is unchanged.
    """

    __tablename__ = "http_validators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    source_id: Mapped[str] = mapped_column(String(100), index=True)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    follow: Mapped[list[Any] | None]
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class SourceHealth(Base):
    """The last verdict on each source, kept so that a broken source is reported once, not after every run or restart."""

    __tablename__ = "source_health"

    source_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: ok | broken
    state: Mapped[str] = mapped_column(String(16), default="ok")
    #: failed_runs | empty_listing | empty_extraction while broken
    reason: Mapped[str | None] = mapped_column(String(32))
    #: One sentence for people: what is wrong and since which run.
    problem: Mapped[str | None] = mapped_column(Text)
    since: Mapped[datetime | None]
    #: The newest crawl run the verdict was made on.
    checked_run_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceInstance(Base):
    """The ``hlidka run`` that holds the schedule, and its last sign of life (for ``hlidka status``)."""

    __tablename__ = "service_instances"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    #: host:pid of the process
    holder: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None]
