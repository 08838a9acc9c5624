"""Send what the outbox owes, each alert at least once and — barring a crash mid-send — exactly once.

An alert row is *claimed* before it is sent: one conditional UPDATE moves it
to ``sending`` with a lease, and only the dispatcher whose UPDATE changed the
row sends it. That is safe on SQLite (writers are serialised) and on
PostgreSQL (the second UPDATE re-checks its WHERE after the first commits),
so two dispatchers — a service and a ``hlidka alerts send`` — never send one
alert twice. The row becomes ``sent`` only after apprise confirms delivery;
a failure puts it back to ``pending`` with exponential backoff. If the
process dies between sending and marking, the lease runs out and another run
sends the alert again: at most one duplicate, never a lost alert.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from alerts.channels import ChannelUnavailable, DeliveryResult, ResolvedChannel, deliver, resolve_channel
from alerts.render import AlertContext, RenderedAlert, count_terms, render_alert
from config import Config
from hlidka.db import Alert, Article, Database, KnownUrl, Match, utcnow
from pipelines.matching import Hit, make_snippet

logger = logging.getLogger("hlidka.alerts")

#: Longer than any single send can take (apprise's SMTP connect timeout is 15 s and
#: a service gets 60 s in all), so a live dispatcher never loses its claim.
DEFAULT_LEASE = timedelta(minutes=5)
#: Spread retries so alerts that failed together do not all hit the channel together again.
JITTER = 0.2
#: 2**60 retry_base is already far beyond any retry_max; capping the exponent avoids overflow.
_MAX_DOUBLINGS = 60
_HIT_KEYS = ("term", "surface", "field", "start", "end", "kind")


@dataclass(frozen=True)
class DispatchReport:
    sent: int = 0
    #: Failed this time, back in the queue for a later attempt.
    retried: int = 0
    #: Failed and older than ``give_up_after``: kept as ``failed``, no more attempts.
    failed: int = 0
    #: Due, but their channel cannot be used (unset variable, channel removed): not attempted.
    waiting: int = 0


def backoff(attempts: int, base: timedelta, cap: timedelta, rng: random.Random | None = None) -> timedelta:
    """Delay before the next try after ``attempts`` failures: base, 2×base, 4×base … up to cap, ±20 %."""
    seconds = min(cap.total_seconds(), base.total_seconds() * 2.0 ** min(attempts - 1, _MAX_DOUBLINGS))
    return timedelta(seconds=seconds * (rng or random).uniform(1 - JITTER, 1 + JITTER))


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending and due, or claimed by a dispatcher whose lease ran out (it crashed or hung)."""
    return or_(
        and_(Alert.status == "pending", Alert.next_attempt_at <= now),
        and_(Alert.status == "sending", Alert.claimed_until < now),
    )


class Dispatcher:
    """Sends due alerts; create one per process (or per configuration) and call :meth:`run_once` on a schedule."""

    def __init__(self, database: Database, config: Config, clock: Callable[[], datetime] = utcnow,
                 worker_id: str | None = None, lease: timedelta = DEFAULT_LEASE):
        self.database = database
        self.config = config
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = lease
        #: (channel, problem) already logged: an unset variable is reported once, not at
        #: every run, and again only after it was fixed and broke anew. The service keeps
        #: one dispatcher per configuration, so this is once per process and config version.
        self._announced: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ the run

    def run_once(self, limit: int = 100) -> DispatchReport:
        """Send up to ``limit`` due alerts whose channel is usable; count the others as waiting."""
        now = self.clock()
        with self.database.session() as session:
            names = set(session.scalars(select(Alert.channel).where(_due(now)).distinct()))
            channels = self._usable_channels(names)
            waiting = session.scalar(
                select(func.count()).select_from(Alert).where(_due(now), Alert.channel.not_in(list(channels)))
            ) or 0
            due_ids = list(session.scalars(
                select(Alert.id).where(_due(now), Alert.channel.in_(list(channels)))
                .order_by(Alert.next_attempt_at, Alert.id).limit(limit)
            )) if channels else []
        outcomes = [self._dispatch(alert_id, channels) for alert_id in due_ids]
        return DispatchReport(
            sent=outcomes.count("sent"),
            retried=outcomes.count("retried"),
            failed=outcomes.count("failed"),
            waiting=waiting,
        )

    def _usable_channels(self, names: Collection[str]) -> dict[str, ResolvedChannel]:
        """Resolve each channel once per run, from the environment as it is now."""
        usable: dict[str, ResolvedChannel] = {}
        for name in names:
            try:
                usable[name] = resolve_channel(self.config, name)
            except ChannelUnavailable as problem:
                self._announce(problem)
                continue
            self._announced = {key for key in self._announced if key[0] != name}
        return usable

    def _announce(self, problem: ChannelUnavailable) -> None:
        key = (problem.channel, str(problem))
        if key not in self._announced:
            self._announced.add(key)
            logger.warning("%s; its alerts wait in the queue", problem)

    def _dispatch(self, alert_id: int, channels: dict[str, ResolvedChannel]) -> str | None:
        """Claim, render, send, record; returns the outcome, or None when another dispatcher had it."""
        if not self._claim(alert_id):
            return None
        with self.database.session() as session:
            alert = session.get_one(Alert, alert_id)
        channel = channels[alert.channel]
        try:
            result = deliver(channel, self._render(alert))
        except Exception as exc:  # a broken template or article row costs one attempt, not the whole run
            result = DeliveryResult(False, channel.redact(f"{type(exc).__name__}: {exc}"))
        if result.ok:
            return self._mark_sent(alert)
        return self._mark_failed(alert, result.error or "apprise reported no error")

    # ------------------------------------------------------------------ the row's states

    def _claim(self, alert_id: int) -> bool:
        now = self.clock()
        with self.database.engine.begin() as connection:
            claimed = connection.execute(
                update(Alert)
                .where(Alert.id == alert_id, _due(now))
                .values(status="sending", claimed_until=now + self.lease, claimed_by=self.worker_id)
            )
        return claimed.rowcount == 1

    def _mark_sent(self, alert: Alert) -> str:
        """Delivered wins over everything: even a dispatcher that lost its lease records it."""
        with self.database.engine.begin() as connection:
            connection.execute(
                update(Alert)
                .where(Alert.id == alert.id, Alert.status.in_(("sending", "pending")))
                .values(status="sent", sent_at=self.clock(), attempts=Alert.attempts + 1,
                        claimed_until=None, claimed_by=self.worker_id, last_error=None)
            )
        logger.info("alert %d sent to channel %s (watchlist %s)", alert.id, alert.channel, alert.watchlist_id)
        return "sent"

    def _mark_failed(self, alert: Alert, error: str) -> str | None:
        now = self.clock()
        attempts = alert.attempts + 1
        settings = self.config.settings.alerts
        give_up = now - alert.created_at >= settings.give_up_after
        values: dict[str, Any] = {"attempts": attempts, "last_error": error, "claimed_until": None}
        if give_up:
            values["status"] = "failed"
        else:
            values["status"] = "pending"
            values["next_attempt_at"] = now + backoff(attempts, settings.retry_base, settings.retry_max)
        with self.database.engine.begin() as connection:
            recorded = connection.execute(
                update(Alert)
                .where(Alert.id == alert.id, Alert.status == "sending", Alert.claimed_by == self.worker_id)
                .values(**values)
            )
        if recorded.rowcount != 1:
            logger.warning("alert %d: lease expired during the attempt; another dispatcher took it over", alert.id)
            return None
        if give_up:
            logger.error("alert %d to channel %s given up after %d attempts: %s",
                         alert.id, alert.channel, attempts, error)
            return "failed"
        logger.warning("alert %d to channel %s failed (attempt %d, next at %s): %s",
                       alert.id, alert.channel, attempts, values["next_attempt_at"].isoformat(timespec="seconds"), error)
        return "retried"

    # ------------------------------------------------------------------ what the alert says

    def _render(self, alert: Alert) -> RenderedAlert:
        """Read what the alert needs in a short session: none stays open while a send takes seconds."""
        with self.database.session() as session:
            context = self._context(session, alert)
        return render_alert(context, self.config.directory / "templates")

    def _context(self, session: Session, alert: Alert) -> AlertContext:
        article = session.get_one(Article, alert.article_id)
        match = session.scalar(
            select(Match).where(Match.article_id == alert.article_id, Match.watchlist_id == alert.watchlist_id)
        )
        hits = match.hits if match else []
        snippet = make_snippet(article.text, [Hit(**{key: hit[key] for key in _HIT_KEYS}) for hit in hits])
        watchlist = next((w for w in self.config.watchlists if w.id == alert.watchlist_id), None)
        try:
            source_name = self.config.source(article.source_id).name
        except KeyError:
            source_name = ""
        return AlertContext(
            watchlist_id=alert.watchlist_id,
            watchlist_name=watchlist.name if watchlist else "",
            title=article.title,
            url=article.canonical_url,
            source_id=article.source_id,
            source_name=source_name,
            published=article.published_at,
            language=article.language,
            score=match.score if match else 0.0,
            terms=count_terms(hit["term"] for hit in hits),
            snippet=snippet.text,
            spans=snippet.spans,
            other_urls=self._other_urls(session, article),
        )

    @staticmethod
    def _other_urls(session: Session, article: Article) -> list[str]:
        """Every other address of the story: its other articles and every URL they were found under."""
        story = article.story_id or article.id
        in_story = or_(Article.id == story, Article.story_id == story)
        urls = [
            *session.scalars(select(Article.canonical_url).where(in_story).order_by(Article.id)),
            *session.scalars(select(KnownUrl.canonical_url).join(Article, KnownUrl.article_id == Article.id)
                             .where(in_story).order_by(KnownUrl.id)),
        ]
        return [url for url in dict.fromkeys(urls) if url != article.canonical_url]
