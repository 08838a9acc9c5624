"""Log lines as text for people or as JSON objects for a log collector.

A long-running service's log ends up in journald, Loki or Elasticsearch, where
one JSON object per line is searchable by field (``source``, ``event``…)
without parsing prose. ``log_format: json`` in ``settings.yaml`` (or
``HLIDKA_LOG_FORMAT=json`` in the environment, for every ``hlidka`` command)
switches every handler of the root logger; the fields a call passes in
``extra={...}`` become keys of the object.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
ENV_VARIABLE = "HLIDKA_LOG_FORMAT"

#: Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, pid and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def use_format(log_format: str | None) -> None:
    """Give every root handler the text or JSON formatter (``None`` or ``"text"``: leave text)."""
    formatter: logging.Formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)


#: Loggers whose per-run chatter (component lists, settings dumps) would drown a crawl's own lines.
CHATTY = ("alembic", "pymorphy3", "scrapy.middleware", "scrapy.addons", "scrapy.crawler", "scrapy.utils.log")


class LevelFilter(logging.Filter):
    """``log_level`` for every logger, chatty ones held to warnings.

    Applied by the handlers, not the loggers: Scrapy resets its loggers' levels
    when a crawl starts, and the pipelines' own loggers (one ``stored …`` line
    per article) would otherwise log at INFO whatever ``settings.yaml`` says.
    """

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return False
        return record.levelno >= logging.WARNING or not record.name.startswith(CHATTY)


def keep_level(level_name: str) -> None:
    """Give every root handler a :class:`LevelFilter` for ``level_name`` (``settings.yaml``'s ``log_level``)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(LevelFilter(logging.getLevelName(level_name)))


def format_from_environment() -> str | None:
    return os.environ.get(ENV_VARIABLE)
