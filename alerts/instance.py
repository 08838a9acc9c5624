"""One ``hlidka run`` per database: the lock that guarantees it, and the heartbeat that shows it.

APScheduler 3 cannot share a job store between schedulers: two services on one
database run every crawl twice and nothing warns about it. The first service
takes a lock; a second one refuses to start, or with ``--standby`` waits and
takes over when the first stops. On SQLite the lock is an ``flock`` on a file
next to the database (one host can use a SQLite file). On PostgreSQL it is a
session advisory lock, which holds across hosts; it lives as long as the
connection that took it, so the service checks that connection regularly and
stops if it was lost, rather than run on beside a standby that took over.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import threading
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import SQLAlchemyError

from hlidka.db import Database, utcnow
from hlidka.db.models import ServiceInstance

logger = logging.getLogger("hlidka.service")

INSTANCE_NAME = "scheduler"
#: pg_try_advisory_lock takes one bigint; derived from a fixed name so every Hlídka agrees on it.
ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"hlidka run").digest()[:8], "big", signed=True)


class AlreadyRunning(RuntimeError):
    """Another ``hlidka run`` holds the lock for this database."""


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class InstanceLock:
    """Held by the one service that schedules crawls on a database."""

    def __init__(self, database: Database):
        self.database = database
        self._file: IO[str] | None = None
        self._connection: Connection | None = None

    @property
    def description(self) -> str:
        if self.database.engine.dialect.name == "postgresql":
            return f"PostgreSQL advisory lock {ADVISORY_KEY}"
        return f"lock file {self.lock_path()}"

    def lock_path(self) -> Path:
        database = self.database.engine.url.database
        if self.database.engine.dialect.name == "sqlite" and database and database != ":memory:":
            return Path(database + ".lock")
        return Path.cwd() / "hlidka.lock"

    def try_acquire(self) -> bool:
        if self.database.engine.dialect.name == "postgresql":
            return self._try_advisory()
        return self._try_flock()

    def _try_flock(self) -> bool:
        path = self.lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(holder_name())
        handle.flush()
        self._file = handle
        return True

    def _try_advisory(self) -> bool:
        connection = self.database.engine.connect()
        got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar())
        connection.commit()
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def acquire(self, standby: bool, stopping: threading.Event, poll: float = 2.0) -> bool:
        """Take the lock; False when ``stopping`` was set while waiting as a standby.

        Raises :class:`AlreadyRunning` when the lock is taken and ``standby`` is off.
        """
        if self.try_acquire():
            return True
        if not standby:
            raise AlreadyRunning(f"another 'hlidka run' is using this database ({self.description}; "
                                 f"{describe_holder(self.database)})")
        logger.info("standby: another 'hlidka run' holds the schedule (%s); waiting to take over",
                    describe_holder(self.database))
        while not stopping.wait(poll):
            if self.try_acquire():
                logger.info("standby: the lock is free; taking over the schedule")
                return True
        return False

    def still_held(self) -> bool:
        """A file lock cannot be lost; an advisory lock goes with its connection."""
        if self._connection is None:
            return self._file is not None
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
        except SQLAlchemyError:
            self._drop_connection()
            return False
        return True

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except SQLAlchemyError:
                pass  # already broken: closing it is all that is left to do
            self._connection = None

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
                self._connection.commit()
            except SQLAlchemyError:
                pass  # the connection is gone, and the lock with it
            self._drop_connection()
        if self._file is not None:
            self._file.close()
            self._file = None


# --------------------------------------------------------------------------- heartbeat


def beat(database: Database, started_at: datetime) -> None:
    """Record that this process holds the schedule and is alive now."""
    now = utcnow()
    with database.session() as session, session.begin():
        row = session.get(ServiceInstance, INSTANCE_NAME)
        if row is None:
            session.add(ServiceInstance(name=INSTANCE_NAME, holder=holder_name(), started_at=started_at,
                                        heartbeat_at=now))
            return
        row.holder, row.started_at, row.heartbeat_at, row.stopped_at = holder_name(), started_at, now, None


def mark_stopped(database: Database) -> None:
    with database.session() as session, session.begin():
        row = session.get(ServiceInstance, INSTANCE_NAME)
        if row is not None and row.holder == holder_name():
            row.stopped_at = utcnow()


def current_instance(database: Database) -> ServiceInstance | None:
    with database.session() as session:
        return session.scalars(select(ServiceInstance).where(ServiceInstance.name == INSTANCE_NAME)).first()


def describe_holder(database: Database) -> str:
    row = current_instance(database)
    if row is None or row.stopped_at is not None:
        return "holder unknown"
    return f"held by {row.holder} since {row.started_at:%Y-%m-%d %H:%M:%S} UTC, last heartbeat {row.heartbeat_at:%H:%M:%S} UTC"
