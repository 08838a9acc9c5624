"""A real HTTP server for the fixture web, on loopback, started and stopped from Python.

A real socket (not a mocked transport) because what is being tested is the
crawler's HTTP behaviour: revalidation with ETag/Last-Modified, robots.txt,
redirects, charsets, several requests in flight at once.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from hlidka.fixtureweb.app import FixtureApp, Response
from hlidka.fixtureweb.content import SEEDS_DIR, load_sites
from hlidka.fixtureweb.model import Article, Site, article_from_mapping
from hlidka.fixtureweb.sources import fixture_sources


@dataclass(frozen=True)
class Hit:
    """One answered request, with what the short log leaves out: Host, User-Agent, when, and the body size."""

    method: str
    path: str
    status: int
    host: str
    user_agent: str
    at: float  # time.monotonic() when the request arrived
    bytes: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: FixtureApp
    log: list[tuple[str, str, int]]
    hits: list[Hit]
    log_lock: threading.Lock
    #: Requests being answered now (a slow page answers long after its client gave up), under ``busy``.
    in_flight: int = 0
    busy: threading.Condition

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a crawler's timeout or size limit) is normal here, not an error."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as crawlers use it
    timeout = 10  # an idle keep-alive connection must not hold a thread forever

    def do_GET(self) -> None:
        self._answer(include_body=True)

    def do_HEAD(self) -> None:
        self._answer(include_body=False)

    def _answer(self, include_body: bool) -> None:
        arrived = time.monotonic()
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.server.busy:
            self.server.in_flight += 1
        try:
            response: Response = self.server.app.handle(self.path, headers)
            body = response.body if include_body else b""
            with self.server.log_lock:
                self.server.log.append((self.command, self.path, response.status))
                self.server.hits.append(Hit(self.command, self.path, response.status, headers.get("host", ""),
                                            headers.get("user-agent", ""), arrived, len(body)))
        finally:
            with self.server.busy:
                self.server.in_flight -= 1
                self.server.busy.notify_all()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line: the request log is ``FixtureWeb.requests``."""


class FixtureWeb:
    """The three fixture news sites on ``http://127.0.0.1:<ephemeral port>``.

    Usage: ``with FixtureWeb() as web: fetch(web.url("/mocr/"))``, or ``start()``/``stop()``.
    """

    def __init__(self, seeds_dir: Path = SEEDS_DIR):
        self._sites = load_sites(seeds_dir)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._log: list[tuple[str, str, int]] = []
        self._hits: list[Hit] = []
        self._log_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FixtureWeb:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.app = FixtureApp(self._sites, f"http://127.0.0.1:{server.server_address[1]}")
        server.log, server.hits, server.log_lock = self._log, self._hits, self._log_lock
        server.busy = threading.Condition()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fixture-web", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server, self._thread = None, None

    def __enter__(self) -> FixtureWeb:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def _running(self) -> _Server:
        if self._server is None:
            raise RuntimeError("the fixture web is not running: call start() or use it as a context manager")
        return self._server

    # ------------------------------------------------------------------ addresses and content

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return self._running.app.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def sites(self) -> dict[str, Site]:
        return dict(self._sites)

    def articles(self, site: str) -> tuple[Article, ...]:
        """The site's current articles, newest first (including published ones)."""
        return self._running.app.articles(site)

    def article_url(self, site: str, article: Article) -> str:
        return self.url(self._sites[site].article_path(article))

    def publish(self, site: str, article: Article | Mapping[str, Any]) -> str:
        """Add ``article`` at the top of the site's listing and feed; returns its URL.

        A mapping such as ``{"title": …, "text": …}`` is enough (see
        :func:`~hlidka.fixtureweb.model.article_from_mapping`); ``id`` and ``slug``
        are assigned when left out. Listings and the feed get a new ETag and a
        later Last-Modified, as after a real CMS update.
        """
        if not isinstance(article, Article):
            article = article_from_mapping(article)
        published = self._running.app.publish(site, article)
        return self.article_url(site, published)

    def redesign(self, site: str, redesigned: bool = True) -> None:
        """Change the site's listing layout so that its configured link scope matches nothing (or undo it)."""
        self._running.app.redesign(site, redesigned)

    def revise(self, site: str, article: Article, **changes: Any) -> Article:
        """Edit a published article (e.g. ``paragraphs=…``); its page gets a new ETag and Last-Modified."""
        assert article.id is not None
        return self._running.app.revise(site, article.id, **changes)

    def sources(self) -> list[dict[str, Any]]:
        """Crawler source definitions (``config.schema.Source`` as plain dicts) for the three sites."""
        return fixture_sources(self._sites, self.base_url)

    # ------------------------------------------------------------------ request log

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """Every request answered so far as (method, path with query, status), oldest first."""
        with self._log_lock:
            return list(self._log)

    @property
    def hits(self) -> list[Hit]:
        """Every request answered so far with its Host header, time and body size, oldest first."""
        with self._log_lock:
            return list(self._hits)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no request is being answered, so the logs are complete (a slow page is logged
        when it has been answered, which may be after the client that asked has exited)."""
        server = self._running
        with server.busy:
            if not server.busy.wait_for(lambda: server.in_flight == 0, timeout):
                raise TimeoutError(f"the fixture web is still answering {server.in_flight} request(s)")

    def count(self, path_prefix: str = "/") -> int:
        """How many requests went to paths starting with ``path_prefix``."""
        return sum(1 for _method, path, _status in self.requests if path.startswith(path_prefix))
