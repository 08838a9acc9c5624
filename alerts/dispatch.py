"""Send what the outbox owes, each alert at least once and — barring a crash mid-send — exactly once.

Every run plans the messages each channel gets now (:mod:`alerts.policy`:
single alerts, digests, folds), then for each message *claims* its rows:
one transaction moves them to ``sending`` with a lease and a fresh batch
token, and only the rows that transaction changed are sent. That is safe on
SQLite (writers are serialised and the UPDATE re-checks that the row is
still due) and on PostgreSQL (``FOR UPDATE SKIP LOCKED`` takes the rows in
id order and passes over rows another dispatcher holds, so two dispatchers
neither wait on nor deadlock with each other), so a service and a manual
``hlidka alerts send`` never send one alert twice.

Rows become ``sent`` only after apprise confirms delivery; a failure puts
them back to ``pending`` with exponential backoff — all rows of one message
with the same next attempt, so a digest is retried as one digest. Messages
are sent one after the other, so at any moment at most one message is
between "the channel accepted it" and "the outbox knows": if the process dies
there, that message's lease runs out and it is sent again. At most one
duplicate message per crash, never a lost alert.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from alerts.channels import (
    BodyShape,
    ChannelUnavailable,
    DeliveryResult,
    ResolvedChannel,
    body_shape,
    deliver,
    resolve_channel,
)
from alerts.compose import Piece, compose_fold, compose_single
from alerts.outbox import queue_operations_alert
from alerts.policy import DueAlert, PlannedMessage, plan_channel
from alerts.render import AlertContext, count_terms, render_operations
from config import Config
from hlidka.db import Alert, Article, Database, KnownUrl, Match, utcnow
from pipelines.matching import Hit, make_snippet

logger = logging.getLogger("hlidka.alerts")

#: Spread retries so alerts that failed together do not all hit the channel together again.
JITTER = 0.2
#: 2**60 retry_base is already far beyond any retry_max; capping the exponent avoids overflow.
_MAX_DOUBLINGS = 60
_HIT_KEYS = ("term", "surface", "field", "start", "end", "kind")
#: Alerts listed by name in a "given up" operations alert; the rest are counted.
_LISTED_IN_NOTICE = 10


@dataclass(frozen=True)
class DispatchReport:
    #: Alerts delivered, and the messages they went out in (a digest is one message for many alerts).
    sent: int = 0
    messages: int = 0
    #: Failed this time, back in the queue for a later attempt.
    retried: int = 0
    #: Failed and older than ``give_up_after``: kept as ``failed``, no more attempts.
    failed: int = 0
    #: Due, but their channel cannot be used (unset variable, channel removed): not attempted.
    waiting: int = 0
    #: Due, but kept back by a digest schedule, quiet hours or the rate limit.
    held: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retried + self.failed


def backoff(attempts: int, base: timedelta, cap: timedelta, rng: random.Random | None = None) -> timedelta:
    """Delay before the next try after ``attempts`` failures: base, 2×base, 4×base … up to cap, ±20 %."""
    seconds = min(cap.total_seconds(), base.total_seconds() * 2.0 ** min(attempts - 1, _MAX_DOUBLINGS))
    return timedelta(seconds=seconds * (rng or random).uniform(1 - JITTER, 1 + JITTER))


def due(now: datetime) -> ColumnElement[bool]:
    """Pending and due, or claimed by a dispatcher whose lease ran out (it crashed or hung)."""
    return or_(
        and_(Alert.status == "pending", Alert.next_attempt_at <= now),
        and_(Alert.status == "sending", Alert.claimed_until < now),
    )


class Dispatcher:
    """Sends due alerts; create one per process (or per configuration) and call :meth:`run_once` on a schedule."""

    def __init__(self, database: Database, config: Config, clock: Callable[[], datetime] = utcnow,
                 worker_id: str | None = None, lease: timedelta | None = None,
                 should_stop: Callable[[], bool] = lambda: False):
        self.database = database
        self.config = config
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = lease or config.settings.alerts.claim_lease
        #: Checked between messages: a stopping service finishes the message in hand and no more.
        self.should_stop = should_stop
        #: (channel, problem) already logged: an unset variable is reported once, not at
        #: every run, and again only after it was fixed and broke anew. The service keeps
        #: one dispatcher per configuration, so this is once per process and config version.
        self._announced: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ the run

    def run_once(self, limit: int = 100) -> DispatchReport:
        """Send the messages due now, until about ``limit`` alerts were attempted."""
        now = self.clock()
        with self.database.session() as session:
            rows = session.execute(
                select(Alert.id, Alert.channel, Alert.watchlist_id, Alert.kind, Alert.created_at)
                .where(due(now)).order_by(Alert.next_attempt_at, Alert.id)
            ).all()
        by_channel: dict[str, list[DueAlert]] = defaultdict(list)
        for row in rows:
            by_channel[row.channel].append(DueAlert(row.id, row.channel, row.watchlist_id, row.kind, row.created_at))
        channels = self._usable_channels(by_channel)
        waiting = sum(len(alerts) for name, alerts in by_channel.items() if name not in channels)
        recent = self._recent_messages(channels, now)
        watchlists = {w.id: w for w in self.config.watchlists}
        messages: list[PlannedMessage] = []
        held = 0
        for name in channels:
            plan = plan_channel(name, self.config.settings.channels[name], self.config.settings, watchlists,
                                by_channel[name], now, recent.get(name, 0))
            messages.extend(plan.messages)
            held += plan.held
        messages.sort(key=lambda m: (m.oldest, m.alert_ids))

        outcomes: Counter[str] = Counter()
        #: Channels that refused a message in this run, with the error. Their other messages are not
        #: tried again now: a mail server that hangs would cost its full timeout for every queued alert
        #: and hold up every other channel. They count as failed with that error instead, so backoff
        #: and giving up run on time for them too.
        failing: dict[str, str] = {}
        deferred: dict[str, list[int]] = defaultdict(list)
        for message in messages:
            if outcomes["sent"] + outcomes["retried"] + outcomes["failed"] >= limit or self.should_stop():
                break
            if message.channel in failing:
                deferred[message.channel].extend(message.alert_ids)
                continue
            error = self._dispatch(message, channels[message.channel], outcomes)
            if error is not None:
                failing[message.channel] = error
        for name, alert_ids in deferred.items():
            token = uuid.uuid4().hex
            claimed = self._claim(alert_ids, token)
            if claimed:
                outcomes.update(self._mark_failed(claimed, token, f"not tried: {failing[name]}", name))
        return DispatchReport(sent=outcomes["sent"], messages=outcomes["messages"], retried=outcomes["retried"],
                              failed=outcomes["failed"], waiting=waiting, held=held)

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

    def _recent_messages(self, channels: Collection[str], now: datetime) -> dict[str, int]:
        """Messages each rate-limited channel got within its window (a digest counts once)."""
        limits = {name: self.config.settings.channels[name].rate_limit for name in channels}
        counts: dict[str, int] = {}
        with self.database.session() as session:
            for name, limit in limits.items():
                if limit is None:
                    continue
                counts[name] = session.scalar(
                    select(func.count(func.distinct(Alert.batch)))
                    .where(Alert.channel == name, Alert.status == "sent", Alert.sent_at > now - limit.per)
                ) or 0
        return counts

    # ------------------------------------------------------------------ one message

    def _dispatch(self, message: PlannedMessage, channel: ResolvedChannel, outcomes: Counter[str]) -> str | None:
        """Claim, render, send, record; returns the error if the channel refused. Others may have taken some rows."""
        token = uuid.uuid4().hex
        claimed = self._claim(message.alert_ids, token)
        if not claimed:
            return None
        try:
            pieces = self._compose(message, claimed, body_shape(channel))
        except Exception as exc:  # a broken template or article row costs one attempt, not the whole run
            error = channel.redact(f"{type(exc).__name__}: {exc}")
            outcomes.update(self._mark_failed(claimed, token, error, channel.name))
            return None
        for index, piece in enumerate(pieces):
            try:
                result = deliver(channel, piece.rendered)
            except Exception as exc:  # apprise promises not to raise; a plugin bug must not kill the run
                result = DeliveryResult(False, channel.redact(f"{type(exc).__name__}: {exc}"))
            if not result.ok:
                unsent = [alert_id for rest in pieces[index:] for alert_id in rest.alert_ids]
                error = result.error or "apprise reported no error"
                outcomes.update(self._mark_failed(unsent, token, error, channel.name))
                return error
            self._mark_sent(piece.alert_ids, token if index == 0 else uuid.uuid4().hex)
            outcomes.update(sent=len(piece.alert_ids), messages=1)
            logger.info("sent to channel %s: %s (%d alert%s)", channel.name, piece.rendered.title,
                        len(piece.alert_ids), "" if len(piece.alert_ids) == 1 else "s")
        return None

    def _compose(self, message: PlannedMessage, claimed: Sequence[int], shape: BodyShape) -> list[Piece]:
        templates = self.config.directory / "templates"
        with self.database.session() as session:
            alerts = {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(claimed)))}
            ordered = [alerts[alert_id] for alert_id in claimed]
            if message.reason == "operations":
                alert = ordered[0]
                return [Piece(render_operations(alert.subject or "", alert.body or "", templates), (alert.id,))]
            items = [(alert.id, self._context(session, alert)) for alert in ordered]
        if message.reason == "digest" or (message.reason in ("quiet", "burst") and len(items) > 1):
            return compose_fold(message.reason, items, message.note, shape, templates)  # type: ignore[arg-type]
        return [piece for alert_id, ctx in items for piece in compose_single(alert_id, ctx, shape, templates)]

    # ------------------------------------------------------------------ the rows' states

    def _claim(self, alert_ids: Sequence[int], token: str) -> list[int]:
        """The rows of ``alert_ids`` this dispatcher now owns, in the planned order."""
        now = self.clock()
        with self.database.engine.begin() as connection:
            free = list(connection.scalars(
                select(Alert.id).where(Alert.id.in_(alert_ids), due(now))
                .order_by(Alert.id).with_for_update(skip_locked=True)
            ))
            if not free:
                return []
            connection.execute(
                update(Alert).where(Alert.id.in_(free), due(now))
                .values(status="sending", claimed_until=now + self.lease, claimed_by=self.worker_id, batch=token)
            )
            mine = set(connection.scalars(select(Alert.id).where(Alert.batch == token, Alert.status == "sending")))
        return [alert_id for alert_id in alert_ids if alert_id in mine]

    def _mark_sent(self, alert_ids: Sequence[int], batch: str) -> None:
        """Delivered wins over everything: even a dispatcher that lost its lease records it."""
        with self.database.engine.begin() as connection:
            connection.execute(
                update(Alert)
                .where(Alert.id.in_(alert_ids), Alert.status.in_(("sending", "pending")))
                .values(status="sent", sent_at=self.clock(), attempts=Alert.attempts + 1, batch=batch,
                        claimed_until=None, claimed_by=self.worker_id, last_error=None)
            )

    def _mark_failed(self, alert_ids: Sequence[int], token: str, error: str, channel: str) -> Counter[str]:
        """Back to the queue with one next attempt for all of them, or ``failed`` for those too old."""
        now = self.clock()
        settings = self.config.settings.alerts
        outcome: Counter[str] = Counter()
        with self.database.session() as session, session.begin():
            mine = session.scalars(select(Alert).where(
                Alert.id.in_(alert_ids), Alert.status == "sending", Alert.claimed_by == self.worker_id,
                Alert.batch == token)).all()
            if len(mine) < len(alert_ids):
                logger.warning("%d alert(s) to channel %s: lease expired during the attempt; another dispatcher "
                               "took them over", len(alert_ids) - len(mine), channel)
            if not mine:
                return outcome
            attempts = max(alert.attempts for alert in mine) + 1
            next_attempt = now + backoff(attempts, settings.retry_base, settings.retry_max)
            given_up = [a for a in mine if now - (a.retried_at or a.created_at) >= settings.give_up_after]
            for alert in mine:
                alert.attempts += 1
                alert.last_error = error
                alert.claimed_until = None
                if alert in given_up:
                    alert.status = "failed"
                else:
                    alert.status, alert.next_attempt_at = "pending", next_attempt
            notice = [a for a in given_up if a.kind != "operations"]
            if notice:
                self._report_given_up(session, notice, channel, error, token)
        outcome.update(retried=len(mine) - len(given_up), failed=len(given_up))
        if given_up:
            logger.error("%d alert(s) to channel %s given up after %d attempt(s): %s",
                         len(given_up), channel, attempts, error)
        if len(mine) > len(given_up):
            logger.warning("%d alert(s) to channel %s failed (attempt %d, next at %s): %s",
                           len(mine) - len(given_up), channel, attempts,
                           next_attempt.isoformat(timespec="seconds"), error)
        return outcome

    def _report_given_up(self, session: Session, alerts: Sequence[Alert], channel: str, error: str,
                         token: str) -> None:
        """An operations alert, queued with the rows it is about, so it cannot be lost either."""
        lines = [
            f"Hlídka stopped trying to deliver {len(alerts)} alert(s) to channel '{channel}' "
            f"after {max(a.attempts for a in alerts)} attempt(s).",
            f"Last error: {error}",
        ]
        for alert in alerts[:_LISTED_IN_NOTICE]:
            article = session.get(Article, alert.article_id) if alert.article_id else None
            lines.append(f"- #{alert.id} [{alert.watchlist_id}] {article.title if article else ''} "
                         f"{article.canonical_url if article else ''}".rstrip())
        if len(alerts) > _LISTED_IN_NOTICE:
            lines.append(f"- and {len(alerts) - _LISTED_IN_NOTICE} more")
        lines.append("See them: hlidka alerts list --status failed; send them again: hlidka alerts retry --failed")
        subject = f"{len(alerts)} alert(s) to channel '{channel}' given up"
        queue_operations_alert(session, self.config, f"given-up:{token}", subject, "\n".join(lines), self.clock())

    # ------------------------------------------------------------------ what an alert says

    def _context(self, session: Session, alert: Alert) -> AlertContext:
        article = session.get_one(Article, alert.article_id)
        match = session.scalar(
            select(Match).where(Match.article_id == alert.article_id, Match.watchlist_id == alert.watchlist_id)
        )
        hits: list[dict[str, Any]] = match.hits if match else []
        snippet = make_snippet(article.text, [Hit(**{key: hit[key] for key in _HIT_KEYS}) for hit in hits])
        watchlist = next((w for w in self.config.watchlists if w.id == alert.watchlist_id), None)
        try:
            source_name = self.config.source(article.source_id).name
        except KeyError:
            source_name = ""
        return AlertContext(
            watchlist_id=alert.watchlist_id or "",
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
