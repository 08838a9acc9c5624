"""Engine, sessions and schema migrations.

Every process (the service, a crawl child, a CLI command) calls
:func:`open_database`, which brings the schema to the newest alembic revision
first, so a user who upgrades Hlídka never runs a migration by hand.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from hlidka.db.models import Alert, Article, Base, CrawlRun, KnownUrl, Match, utcnow

__all__ = ["Alert", "Article", "Base", "CrawlRun", "Database", "KnownUrl", "Match", "open_database", "shared_database", "utcnow"]

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    """WAL lets the service read while a crawl child writes; busy_timeout waits instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Database:
    """An engine plus a session factory, created once per process."""

    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    def upgrade(self) -> None:
        cfg = alembic_config(self.url)
        with self.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "heads")

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, migrate: bool = True) -> Database:
    database = Database(url)
    if migrate:
        database.upgrade()
    return database


_shared: dict[str, Database] = {}
_shared_lock = threading.Lock()


def shared_database(url: str) -> Database:
    """One migrated :class:`Database` per URL per process, for components that Scrapy builds separately."""
    with _shared_lock:
        if url not in _shared:
            _shared[url] = open_database(url)
        return _shared[url]
