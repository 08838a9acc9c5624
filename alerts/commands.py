"""``hlidka alerts …``: the alert queue from the command line — send, list, retry, test."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from config import Config

CommandFactory = Callable[..., argparse.ArgumentParser]

STATUSES = ("pending", "sending", "sent", "failed")
_TITLE_WIDTH = 60


def _summary(sent: int, messages: int, retried: int, failed: int, waiting: int, held: int) -> str:
    return (f"alerts: {sent} sent in {messages} message(s), {retried} to retry, {failed} failed, "
            f"{waiting} waiting for their channel, {held} held (digest, quiet hours, rate limit)")


def dispatch_now(config: Config, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Send everything due now, in as many runs as it takes, and say what happened (after a crawl too)."""
    from alerts.dispatch import DispatchReport, Dispatcher
    from hlidka.db import open_database

    database = open_database(config.database_url)
    dispatcher = Dispatcher(database, config, should_stop=should_stop)
    limit = 100
    total = DispatchReport()
    try:
        while not should_stop():
            report = dispatcher.run_once(limit)
            total = DispatchReport(
                sent=total.sent + report.sent, messages=total.messages + report.messages,
                retried=total.retried + report.retried, failed=total.failed + report.failed,
                waiting=report.waiting, held=report.held,
            )
            if report.attempted < limit:
                break
    finally:
        database.dispose()
    print(_summary(total.sent, total.messages, total.retried, total.failed, total.waiting, total.held))
    if should_stop():
        print("stopped on request; what is left stays queued")


def cmd_send(args: argparse.Namespace) -> int:
    """SIGTERM or Ctrl-C finishes the message in hand and records it, so stopping never duplicates one."""
    from hlidka.cli import load_config_of

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    dispatch_now(load_config_of(args), should_stop=stop.is_set)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from alerts.channels import send_test
    from hlidka.cli import load_config_of

    ok, message = send_test(load_config_of(args), args.channel)
    print(message)
    return 0 if ok else 1


# --------------------------------------------------------------------------- list


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_list(args: argparse.Namespace) -> int:
    """Newest first; the time column is when a pending alert is next tried, or when it was sent."""
    from sqlalchemy import func, select

    from hlidka.cli import load_config_of
    from hlidka.db import Alert, Article, open_database

    database = open_database(load_config_of(args).database_url)
    try:
        with database.session() as session:
            filters = []
            if args.status:
                filters.append(Alert.status.in_(args.status))
            if args.channel:
                filters.append(Alert.channel == args.channel)
            if args.watchlist:
                filters.append(Alert.watchlist_id == args.watchlist)
            counts = dict(session.execute(
                select(Alert.status, func.count()).where(*filters).group_by(Alert.status)).all())
            rows = session.execute(
                select(Alert, Article.title).outerjoin(Article, Alert.article_id == Article.id)
                .where(*filters).order_by(Alert.id.desc()).limit(args.limit)
            ).all()
    finally:
        database.dispose()
    print("  ".join(f"{status}: {counts.get(status, 0)}" for status in STATUSES) + "  (times in UTC)")
    if not rows:
        return 0
    header = f"{'ID':>6}  {'STATUS':<8} {'CHANNEL':<16} {'WATCHLIST':<14} {'TRIES':>5}  {'QUEUED':<16}  {'NEXT/SENT':<16}  TITLE"
    print(header)
    for alert, title in rows:
        when = alert.sent_at if alert.status == "sent" else alert.next_attempt_at if alert.status == "pending" else None
        label = alert.watchlist_id or ("(operations)" if alert.kind == "operations" else "")
        print(f"{alert.id:>6}  {alert.status:<8} {_clip(alert.channel, 16):<16} {_clip(label, 14):<14} "
              f"{alert.attempts:>5}  {_when(alert.created_at):<16}  {_when(when):<16}  "
              f"{_clip(title or alert.subject or '', _TITLE_WIDTH)}")
        if alert.last_error and alert.status != "sent":
            print(f"{'':>8}last error: {_clip(alert.last_error, 200)}")
    return 0


# --------------------------------------------------------------------------- retry


def retry_failed(config: Config, ids: Sequence[int], channel: str | None) -> tuple[list[int], dict[int, str]]:
    """Put failed alerts back in the queue with a fresh give-up age; returns (queued ids, refused id → why)."""
    from sqlalchemy import select, update

    from hlidka.db import Alert, open_database, utcnow

    database = open_database(config.database_url)
    try:
        with database.session() as session, session.begin():
            query = select(Alert.id, Alert.status)
            query = query.where(Alert.id.in_(ids)) if ids else query.where(Alert.status == "failed")
            if channel:
                query = query.where(Alert.channel == channel)
            found = dict(session.execute(query).all())
            refused = {i: "no such alert" for i in ids if i not in found}
            refused.update({i: f"it is {status}, not failed" for i, status in found.items() if status != "failed"})
            chosen = sorted(i for i, status in found.items() if status == "failed")
            if chosen:
                now = utcnow()
                session.execute(
                    update(Alert).where(Alert.id.in_(chosen), Alert.status == "failed")
                    .values(status="pending", next_attempt_at=now, retried_at=now, attempts=0, claimed_until=None)
                )
    finally:
        database.dispose()
    return chosen, refused


def cmd_retry(args: argparse.Namespace) -> int:
    from hlidka.cli import load_config_of

    if not args.ids and not args.failed:
        print("name the alerts to retry (IDs from 'hlidka alerts list') or use --failed for all failed ones",
              file=sys.stderr)
        return 2
    queued, refused = retry_failed(load_config_of(args), args.ids, args.channel)
    for alert_id, why in sorted(refused.items()):
        print(f"alert {alert_id} not retried: {why}", file=sys.stderr)
    print(f"{len(queued)} alert(s) queued again" + (": they go out at the next dispatch "
                                                    "(or now with 'hlidka alerts send')" if queued else ""))
    return 1 if refused else 0


# --------------------------------------------------------------------------- parser


def register(command: CommandFactory, common: argparse.ArgumentParser) -> None:
    """Add the ``alerts`` command group to the ``hlidka`` parser."""
    group = command("alerts", lambda _args: (group.print_help(), 2)[1], "the alert queue: send, list, retry, test")
    actions = group.add_subparsers(dest="alerts_command", metavar="ACTION")
    send = actions.add_parser("send", parents=[common], help="send due alerts now")
    send.set_defaults(handler=cmd_send)
    listing = actions.add_parser("list", parents=[common], help="show queued, sent and failed alerts, newest first")
    listing.add_argument("--status", action="append", choices=STATUSES, help="only this status (repeatable)")
    listing.add_argument("--channel", help="only this channel")
    listing.add_argument("--watchlist", help="only this watchlist")
    listing.add_argument("--limit", type=int, default=50, help="show at most this many (default 50)")
    listing.set_defaults(handler=cmd_list)
    retry = actions.add_parser("retry", parents=[common], help="queue failed alerts again")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID", help="alert ids from 'hlidka alerts list'")
    retry.add_argument("--failed", action="store_true", help="every failed alert (with --channel: of that channel)")
    retry.add_argument("--channel", help="only alerts to this channel")
    retry.set_defaults(handler=cmd_retry)
    test = actions.add_parser("test", parents=[common], help="send a test message to a channel and say what failed")
    test.add_argument("channel")
    test.set_defaults(handler=cmd_test)
