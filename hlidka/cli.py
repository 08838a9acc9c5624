"""The ``hlidka`` command line: a thin layer over the library, one function per command."""

from __future__ import annotations

import argparse
import logging
import pickle
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from config import Config, ConfigError, check_config, load_config
from alerts import commands as alerts_commands
from hlidka import logs, status as status_commands
from alerts.commands import dispatch_now
from pipelines.matching import lint_watchlist

logger = logging.getLogger("hlidka")

#: A command's function: parsed arguments in, exit code out.
Handler = Callable[[argparse.Namespace], int]


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        # Per-run chatter that would drown the service's own log lines.
        for noisy in ("alembic", "apscheduler.executors", "apscheduler.scheduler", "pymorphy3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    logs.use_format(logs.format_from_environment())


def load_config_of(args: argparse.Namespace) -> Config:
    return load_config(args.config, linters=(lint_watchlist,))


# --------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace) -> int:
    config, issues = check_config(args.config, linters=(lint_watchlist,))
    for issue in issues:
        print(issue, file=sys.stderr if issue.level == "error" else sys.stdout)
    if config is None:
        errors = sum(1 for i in issues if i.level == "error")
        print(f"{args.config}: {errors} error(s); fix them before starting the service", file=sys.stderr)
        return 1
    print(f"{args.config}: OK — {len(config.sources)} sources, {len(config.watchlists)} watchlists, "
          f"{len(config.settings.channels)} channels")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from alerts.service import run_service

    return run_service(args.config, standby=args.standby)


def cmd_crawl(args: argparse.Namespace) -> int:
    from crawler.run import run_crawl

    if args.snapshot:
        with open(args.snapshot, "rb") as handle:
            config: Config = pickle.load(handle)
    else:
        config = load_config_of(args)
    if not getattr(args, "verbose", False):
        logs.keep_level(config.settings.log_level)
    source_ids = args.source or [s.id for s in config.sources if s.enabled]
    try:
        summaries = run_crawl(config, source_ids)
    except KeyError as exc:
        print(f"unknown source {exc}; known: {', '.join(s.id for s in config.sources)}", file=sys.stderr)
        return 2
    for run in summaries:
        line = f"{run.source_id}: {run.status} — {run.pages} pages, {run.articles_found} new links, {run.articles_new} new articles"
        print(line + (f" ({run.message})" if run.message else ""))
    if not args.no_send:
        dispatch_now(config)
    return 0 if all(r.status == "ok" for r in summaries) else 1


def cmd_match(args: argparse.Namespace) -> int:
    from hlidka.match_files import match_files

    config = load_config_of(args)
    return match_files(config, args.paths, as_json=args.json)


def cmd_rematch(args: argparse.Namespace) -> int:
    from hlidka.db import open_database
    from pipelines.rematch import rematch

    config = load_config_of(args)
    try:
        report = rematch(open_database(config.database_url), config, args.watchlist, args.since, args.until, args.alert)
    except KeyError as exc:
        print(f"unknown watchlist(s): {exc.args[0]}", file=sys.stderr)
        return 2
    print(f"{report.articles} articles: {report.added} matches added, {report.updated} updated, "
          f"{report.removed} removed; {report.alerts_queued} alerts queued")
    if args.alert and report.alerts_queued:
        dispatch_now(config)
    return 0


def _date(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cmd_demo(args: argparse.Namespace) -> int:
    from hlidka.demo import run_demo

    return run_demo()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from hlidka.db import open_database

    config = load_config_of(args)
    open_database(config.database_url)
    print("database schema is up to date")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                        help="configuration directory (default: ./config)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")

    parser = argparse.ArgumentParser(
        prog="hlidka", parents=[common],
        description="Hlídka watches news sources, matches new articles against watchlists and sends alerts.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    run = command("run", cmd_run, "run the service: crawl every source on its schedule and send alerts")
    run.add_argument("--standby", action="store_true", help="if another service holds the database, wait to take over")
    command("check", cmd_check, "validate the configuration; exit 1 on errors, naming file, line and field")
    crawl = command("crawl", cmd_crawl, "crawl sources once now, store new articles, then send alerts")
    crawl.add_argument("--source", action="append", help="source id (repeatable; default: all enabled)")
    crawl.add_argument("--no-send", action="store_true", help="only queue alerts; do not send them")
    crawl.add_argument("--snapshot", help=argparse.SUPPRESS)
    match = command("match", cmd_match, "extract and match local HTML or text files (no crawl, no database)")
    match.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    match.add_argument("--json", action="store_true", help="one JSON object per line")
    rematch = command("rematch", cmd_rematch, "re-run watchlists over stored articles (backfill after an edit)")
    rematch.add_argument("--watchlist", action="append", help="watchlist id (repeatable; default: all)")
    rematch.add_argument("--since", type=_date, help="articles fetched on or after this date (ISO, UTC)")
    rematch.add_argument("--until", type=_date, help="articles fetched before this date (ISO, UTC)")
    rematch.add_argument("--alert", action="store_true", help="queue and send alerts for new matches")
    command("demo", cmd_demo, "offline walk-through on a local fixture site, with email alerts to a local SMTP server")
    alerts_commands.register(command, common)
    status_commands.register(command, common)
    db = command("db", lambda a: (db.print_help(), 2)[1], "database commands")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", parents=[common], help="bring the schema to the newest version")
    upgrade.set_defaults(handler=cmd_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.config = getattr(args, "config", Path("config"))
    _setup_logging(getattr(args, "verbose", False))
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"configuration errors:\n{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
