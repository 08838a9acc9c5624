"""Shared fixtures: databases on SQLite and PostgreSQL, and the rule for missing local services.

A test that needs a local service (PostgreSQL, an MQTT broker) skips with a
reason when the service is absent, so the suite passes on any machine; CI sets
``HLIDKA_REQUIRE_SERVICES=1`` and then the same absence is a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from hlidka.db import Database, open_database
from hlidka.fixtureweb import FixtureWeb
from hlidka.mailsink import MailSink
from support.alerts_helpers import WebhookReceiver

POSTGRES_ADMIN_URL = os.environ.get("HLIDKA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def service_missing(reason: str) -> None:
    """Skip, or fail under CI, when a local service a test needs is not there."""
    if os.environ.get("HLIDKA_REQUIRE_SERVICES"):
        pytest.fail(f"required local service missing: {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_server() -> str:
    if not port_open("127.0.0.1", 5432):
        service_missing("PostgreSQL is not listening on 127.0.0.1:5432")
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"hlidka_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means the server is unusable here
        admin.dispose()
        service_missing(f"cannot create a PostgreSQL test database: {exc}")
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """Run a test on both supported databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hlidka.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = open_database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def web() -> Iterator[FixtureWeb]:
    """The fixture news web on a loopback port, fresh for each test (publishing changes it)."""
    with FixtureWeb() as server:
        yield server


@pytest.fixture
def mail() -> Iterator[MailSink]:
    """A real SMTP server on a loopback port that keeps what it receives."""
    with MailSink() as sink:
        yield sink


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A real HTTP server on a loopback port that records the webhook posts it receives."""
    with WebhookReceiver() as receiver:
        yield receiver
