"""``hlidka status``: what the service is doing, read from the database (works with or without it running).

One table of sources (last run and its result, new articles today, next run,
health) and one of the alert queue; ``--json`` gives the same as one object for
scripts. Times are UTC. The database work is in :mod:`hlidka.status_query`,
imported only when the command runs, so that other commands start fast.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

CommandFactory = Callable[..., argparse.ArgumentParser]


# --------------------------------------------------------------------------- the table


def _when(value: str | None, now: datetime) -> str:
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value)
    seconds = int((moment - now).total_seconds())
    shown = f"{moment:%H:%M:%S}" if moment.date() == now.date() else f"{moment:%Y-%m-%d %H:%M}"
    span = abs(seconds)
    amount = f"{span}s" if span < 120 else f"{span // 60}m" if span < 7200 else f"{span // 3600}h"
    return f"{shown} ({'in ' + amount if seconds > 0 else amount + ' ago'})"


def _result(run: dict[str, Any] | None, crawling: bool) -> str:
    if run is None:
        return "crawling (first run)" if crawling else "never run"
    links = "listing unchanged" if run["article_links"] is None else f"{run['article_links']} links"
    took = "" if run["duration_seconds"] is None else f" in {run['duration_seconds']:.0f}s"
    if run["status"] == "ok":
        text_ = f"ok{took}: {run['pages']} pages, {links}, {run['articles_new']} new"
    else:
        text_ = f"{run['status']}{took}: {run['message'] or 'no details'}"
    return ("crawling; last " + text_) if crawling else text_


def _health(health: dict[str, Any], now: datetime) -> str:
    if health["state"] != "broken":
        return health["state"]
    return f"BROKEN since {_when(health['since'], now)}"


def _table(headers: Sequence[str], rows: list[list[str]], wrap_last: int = 70) -> list[str]:
    clipped = [[*row[:-1], row[-1] if len(row[-1]) <= wrap_last else row[-1][: wrap_last - 1] + "…"] for row in rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *clipped)]
    line = "  ".join("{:<%d}" % width for width in widths)
    return [line.format(*headers).rstrip(), *(line.format(*row).rstrip() for row in clipped)]


def render(status: dict[str, Any]) -> str:
    now = datetime.fromisoformat(status["generated_at"])
    service = status["service"]
    if service["running"]:
        head = f"service: running as {service['holder']} since {_when(service['started_at'], now)}, " \
               f"heartbeat {_when(service['heartbeat_at'], now)}"
    elif service["holder"]:
        head = f"service: NOT RUNNING (last: {service['holder']}, stopped {_when(service['stopped_at'], now)}, " \
               f"heartbeat {_when(service['heartbeat_at'], now)})"
    else:
        head = "service: never started on this database"
    lines = [f"Hlídka status at {now:%Y-%m-%d %H:%M:%S} UTC, database {status['database']}", head, ""]
    source_rows = [[s["id"], s["schedule"], _when((s["last_run"] or {}).get("started_at"), now),
                    str(s["new_today"]), _when(s["next_run"], now), _health(s["health"], now),
                    _result(s["last_run"], s["crawling"])] for s in status["sources"]]
    lines += _table(["SOURCE", "SCHEDULE", "LAST RUN", "NEW TODAY", "NEXT RUN", "HEALTH", "RESULT"], source_rows)
    lines += [f"  {s['id']} is broken: {s['health']['problem']}" for s in status["sources"]
              if s["health"]["state"] == "broken"]
    lines.append("")
    queue = status["alert_queue"]
    if queue:
        lines += _table(["CHANNEL", "KIND", "PENDING", "SENDING", "FAILED", "SENT TODAY", "OLDEST WAITING"],
                        [[q["channel"], q["kind"], str(q["pending"]), str(q["sending"]), str(q["failed"]),
                          str(q["sent_today"]), _when(q["oldest_waiting"], now)] for q in queue])
    else:
        lines.append("alert queue: empty")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the command


def cmd_status(args: argparse.Namespace) -> int:
    from hlidka.cli import load_config_of
    from hlidka.db import open_database
    from hlidka.status_query import gather

    config = load_config_of(args)
    database = open_database(config.database_url)
    try:
        status = gather(config, database)
    finally:
        database.dispose()
    print(json.dumps(status, ensure_ascii=False, indent=2) if args.json else render(status))
    return 0


def register(command: CommandFactory, common: argparse.ArgumentParser) -> None:
    """Add ``hlidka status`` to the ``hlidka`` parser."""
    status = command("status", cmd_status, "sources (last run, result, next run, health) and the alert queue")
    status.add_argument("--json", action="store_true", help="one JSON object, for scripts")
