"""``hlidka alerts …``: the alert queue from the command line."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from config import Config

CommandFactory = Callable[..., argparse.ArgumentParser]


def dispatch_now(config: Config) -> None:
    """Send every due alert once and say what happened (used after a one-off crawl too)."""
    from alerts.dispatch import Dispatcher
    from hlidka.db import open_database

    report = Dispatcher(open_database(config.database_url), config).run_once()
    print(f"alerts: {report.sent} sent, {report.retried} to retry, {report.failed} failed, {report.waiting} waiting")


def cmd_send(args: argparse.Namespace) -> int:
    from hlidka.cli import load_config_of

    dispatch_now(load_config_of(args))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from alerts.channels import send_test
    from hlidka.cli import load_config_of

    ok, message = send_test(load_config_of(args), args.channel)
    print(message)
    return 0 if ok else 1


def register(command: CommandFactory, common: argparse.ArgumentParser) -> None:
    """Add the ``alerts`` command group to the ``hlidka`` parser."""
    group = command("alerts", lambda _args: (group.print_help(), 2)[1], "the alert queue: send, test")
    actions = group.add_subparsers(dest="alerts_command", metavar="ACTION")
    send = actions.add_parser("send", parents=[common], help="send due alerts now")
    send.set_defaults(handler=cmd_send)
    test = actions.add_parser("test", parents=[common], help="send a test message to a channel and say what failed")
    test.add_argument("channel")
    test.set_defaults(handler=cmd_test)
