"""One scheduler per database: the instance lock on SQLite (a file) and PostgreSQL (an advisory lock)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from alerts.instance import ADVISORY_KEY, AlreadyRunning, InstanceLock, beat, current_instance, holder_name
from hlidka.db import Database, open_database, utcnow


def test_a_second_lock_on_the_same_database_is_refused_until_the_first_is_released(database: Database) -> None:
    other = open_database(database.url)
    first, second = InstanceLock(database), InstanceLock(other)
    try:
        assert first.try_acquire()
        beat(database, utcnow())
        with pytest.raises(AlreadyRunning, match=f"held by {holder_name()}"):
            second.acquire(standby=False, stopping=threading.Event())
        first.release()
        assert second.acquire(standby=False, stopping=threading.Event())
        assert second.still_held()
    finally:
        first.release()
        second.release()
        other.dispose()


def test_a_standby_that_is_told_to_stop_gives_up_waiting(database: Database) -> None:
    other = open_database(database.url)
    first, standby = InstanceLock(database), InstanceLock(other)
    stopping = threading.Event()
    try:
        assert first.try_acquire()
        threading.Timer(0.5, stopping.set).start()
        assert standby.acquire(standby=True, stopping=stopping, poll=0.1) is False
    finally:
        first.release()
        standby.release()
        other.dispose()


def test_a_lost_postgresql_session_is_noticed(postgres_url: str) -> None:
    database = open_database(postgres_url)
    lock = InstanceLock(database)
    try:
        assert lock.try_acquire() and lock.still_held()
        with database.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                               "WHERE locktype = 'advisory' AND objid = CAST(CAST(:key AS bigint) & 4294967295 AS oid)"),
                          {"key": ADVISORY_KEY})
        assert not lock.still_held(), "the advisory lock went with its session"
        assert InstanceLock(database).try_acquire(), "so another service may now take it"
    finally:
        lock.release()
        database.dispose()


def test_the_heartbeat_names_the_running_service(database: Database) -> None:
    started = utcnow()
    beat(database, started)
    row = current_instance(database)
    assert row is not None and row.holder == holder_name() and row.stopped_at is None
    assert row.heartbeat_at >= started
