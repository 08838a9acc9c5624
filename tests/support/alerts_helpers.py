"""Real parts for alert tests: a loopback webhook receiver, outbox rows, a clock tests can move.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from config import Config
from config.schema import AlertSettings, Channel, Settings, Source, Watchlist
from hlidka.db import Alert, Article, Database, KnownUrl, Match, utcnow

CZECH_TITLE = "Korejská republika jihokorejským partnerům představila Seoul Defense Dialogue"
CZECH_TEXT = (
    "Seoul Defense Dialogue, pořádaný od roku 2012 jihokorejským Ministerstvem obrany, slouží jako fórum "
    "pro diskusi o bezpečnosti. Korejská republika je jedním z našich nejvýznamnějších partnerů v Asii, "
    "uvedl náměstek Blažkovec."
)
UKRAINIAN_TITLE = "Умєров провів зустрічі з топчиновниками Південної Кореї"
UKRAINIAN_TEXT = (
    "Міністр оборони України Рустем Умєров провів зустрічі з топчиновниками Південної Кореї під час свого "
    "візиту до Сеулу. Однією з тем обговорень стало посилення безпеки."
)


class Clock:
    """A settable ``clock`` for the Dispatcher: backoff and leases are tested without sleeping."""

    def __init__(self, start: datetime | None = None):
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def make_config(directory: Path, channels: dict[str, str | dict[str, Any]], alerts: AlertSettings | None = None,
                watchlist_alert: dict[str, Any] | None = None) -> Config:
    """A Config with Korea and NATO watchlists and one source, alerting to ``channels``.

    A channel is an apprise URL, or a mapping of ``Channel`` fields (url, delivery, quiet_hours…);
    ``watchlist_alert`` is the Korea watchlist's ``alert:`` section.
    """
    settings = Settings(
        channels={name: Channel.model_validate({"url": spec} if isinstance(spec, str) else spec)
                  for name, spec in channels.items()},
        default_channels=list(channels),
        alerts=alerts or AlertSettings(),
    )
    korea = Watchlist.model_validate({"id": "korea", "name": "Korea", "alert": watchlist_alert or {},
                                      "any": ["Korejská republika", "jihokorejský", "Південна Корея"]})
    nato = Watchlist.model_validate({"id": "nato", "name": "NATO", "any": ["NATO"]})
    source = Source(id="mocr", name="Ministerstvo obrany ČR", start_urls=["https://www.mocr.cz/"])
    return Config(directory=directory, settings=settings, sources=(source,), watchlists=(korea, nato))


def write_config(directory: Path, database_url: str, mail_url: str, lease: str = "5s") -> Path:
    """A configuration directory as a user has it, for ``hlidka`` run as a command: settings, no sources,
    a Korea watchlist, one email channel. The claim lease is the shortest allowed, so that a test can
    wait one out."""
    (directory / "watchlists").mkdir(parents=True)
    settings = {"database": database_url, "channels": {"email": {"url": mail_url}}, "default_channels": ["email"],
                "alerts": {"claim_lease": lease, "retry_base": "1s"}}
    (directory / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (directory / "sources.yaml").write_text("sources: []\n", encoding="utf-8")
    (directory / "watchlists" / "korea.yaml").write_text("name: Korea\nany: [Korea]\n", encoding="utf-8")
    return directory


def hits_for(text: str, surfaces: Iterable[tuple[str, str]], field: str = "text") -> list[dict[str, Any]]:
    """Hit dicts as the matcher stores them in ``Match.hits``, for each (term, surface) found in ``text``."""
    hits = []
    for term, surface in surfaces:
        start = text.index(surface)
        hits.append({"term": term, "surface": surface, "field": field,
                     "start": start, "end": start + len(surface), "kind": "strong"})
    return hits


def add_alert(database: Database, channel: str, *, title: str = CZECH_TITLE, text: str = CZECH_TEXT,
              url: str = "https://www.mocr.cz/seoul-defense-dialogue", language: str = "cs",
              hits: list[dict[str, Any]] | None = None, created_at: datetime | None = None,
              watchlist: str = "korea", **alert_fields: Any) -> int:
    """Store an article, its match and one alert for ``channel``; returns the alert id."""
    if hits is None:
        hits = hits_for(text, [("Korejská republika", "Korejská republika"), ("jihokorejský", "jihokorejským")])
    with database.session() as session, session.begin():
        article = Article(source_id="mocr", canonical_url=url, title=title, text=text, language=language,
                          content_hash=hashlib.sha256(text.encode()).hexdigest())
        session.add(article)
        session.flush()
        article.story_id = article.id
        session.add(KnownUrl(canonical_url=url, source_id="mocr", article_id=article.id))
        session.add(Match(article_id=article.id, watchlist_id=watchlist, score=4.0, hits=hits))
        alert = Alert(dedupe_key=f"story:{article.id}:{watchlist}:{channel}", article_id=article.id,
                      watchlist_id=watchlist, channel=channel, **alert_fields)
        if created_at is not None:
            alert.created_at = alert.next_attempt_at = created_at
        session.add(alert)
        session.flush()
        return alert.id


def load_alert(database: Database, alert_id: int) -> Alert:
    with database.session() as session:
        return session.get_one(Alert, alert_id)


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """An HTTP server on loopback that records every request and answers with the statuses it is given."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests.append(Request(self.path, dict(self.headers), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hooks/hlidka", scheme: str = "json", userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{at}127.0.0.1:{self.port}{path}"
