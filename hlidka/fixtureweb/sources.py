"""Crawler sources and a complete configuration directory for the fixture web.

``hlidka demo`` and end-to-end tests need a configuration that points at a
server whose port is only known at run time; writing it here, validated by the
same models the service loads it with, keeps the demo from drifting away from
the real configuration format.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

import config
from config.schema import Settings, Source, SourcesFile
from hlidka.fixtureweb.content import load_sites
from hlidka.fixtureweb.lab import FOREIGN_HOST, MOCR_ALIAS, MOCR_HOST
from hlidka.fixtureweb.model import Site
from hlidka.fixtureweb.render import LINK_SCOPE_CSS, NEXT_PAGE_CSS

EMAIL_CHANNEL = "analysts-email"
_HEADER = "# Written by hlidka.fixtureweb for the fixture web at {base_url}; regenerated on every run.\n"


def fixture_sources(sites: Mapping[str, Site], base_url: str, *, interval: str = "10s",
                    max_pages: int = 5) -> list[dict[str, Any]]:
    """One ``Source`` (as a plain dict, ready for YAML) per fixture site."""
    base_url = base_url.rstrip("/")
    sources = []
    for site in sites.values():
        start = site.feed_path if site.crawl == "rss" and site.feed_path else site.listing_path()
        source: dict[str, Any] = {
            "id": site.id,
            "name": site.name,
            "kind": site.crawl,
            "start_urls": [base_url + start],
            "article_links": [site.article_link_regex()],
            "max_pages": max_pages,
            "interval": interval,
            "language": site.language,
        }
        if site.crawl == "html":
            source |= {"link_scope": LINK_SCOPE_CSS, "next_page": NEXT_PAGE_CSS}
        Source.model_validate(source)
        sources.append(source)
    return sources


#: Host names the lab's sources use, to be pinned to the fixture server (settings ``crawl.resolve``).
LAB_HOSTS = (MOCR_HOST, MOCR_ALIAS, FOREIGN_HOST)


def lab_sources(base_url: str, *, interval: str = "10s") -> list[dict[str, Any]]:
    """Sources for the corners of ``/lab/`` (see :mod:`hlidka.fixtureweb.lab`): PDF press releases,
    legacy charsets, the MoD on two host names, the trap listing and the endless calendar."""
    base_url = base_url.rstrip("/")
    port = urlsplit(base_url).port
    mocr_links = load_sites()["mocr"].article_link_regex()
    sources: list[dict[str, Any]] = [
        {"id": "lab-press", "name": "Tiskové zprávy (PDF)", "start_urls": [f"{base_url}/lab/press/"],
         "pdf_links": [r"/lab/press/[a-z0-9-]+\.pdf$"], "link_scope": LINK_SCOPE_CSS, "language": "cs"},
        {"id": "lab-charsets", "name": "Regionální portály", "start_urls": [f"{base_url}/lab/charsets/"],
         "article_links": [r"/lab/charsets/[a-z0-9-]+/(clanek|news)/"], "link_scope": LINK_SCOPE_CSS},
        {"id": "lab-hosts", "name": "Ministerstvo obrany – rozcestník",
         "start_urls": [f"http://{MOCR_HOST}:{port}/lab/hosts/"], "alias_hosts": [MOCR_ALIAS],
         "article_links": [mocr_links], "link_scope": LINK_SCOPE_CSS, "language": "cs"},
        {"id": "lab-traps", "name": "Zprávy z regionu", "start_urls": [f"{base_url}/lab/traps/"],
         "article_links": [r"/lab/traps/clanek/", r"/private/"], "link_scope": LINK_SCOPE_CSS, "language": "cs"},
        {"id": "lab-calendar", "name": "Kalendář akcí", "start_urls": [f"{base_url}/lab/calendar/2025/01/"],
         "article_links": [r"/lab/calendar/\d{4}/\d{2}/\d{2}/$"], "link_scope": LINK_SCOPE_CSS,
         "next_page": "a[rel=next]", "max_pages": 100, "max_requests": 25, "language": "cs"},
    ]
    for source in sources:
        source["interval"] = interval
        Source.model_validate(source)
    return sources


def fixture_settings(dest: Path, smtp_port: int | None) -> dict[str, Any]:
    """Settings for a demo against loopback: no politeness delay (one host serves all three
    sites, a 1 s delay would make the first crawl take half a minute), quick alert dispatch."""
    settings: dict[str, Any] = {
        "database": f"sqlite:///{(dest / 'hlidka.db').resolve()}",
        "crawl": {"download_delay": "0s", "download_timeout": "10s"},
        "alerts": {"dispatch_interval": "2s"},
    }
    if smtp_port is not None:
        url = f"mailto://localhost?smtp=127.0.0.1&port={smtp_port}&from=hlidka@example.org&to=analyst@example.org"
        settings["channels"] = {EMAIL_CHANNEL: {"url": url, "description": "Local SMTP sink of the demo"}}
        settings["default_channels"] = [EMAIL_CHANNEL]
    Settings.model_validate(settings)
    return settings


def write_fixture_config(dest: Path, base_url: str, smtp_port: int | None = None, *,
                         sources: Sequence[Mapping[str, Any]] | None = None,
                         crawl: Mapping[str, Any] | None = None) -> Path:
    """Write ``settings.yaml``, ``sources.yaml`` and ``watchlists/`` for the fixture web into ``dest``.

    The watchlists are the ones shipped in the installed ``config`` package, so
    the demo matches with exactly what a new user starts from. ``sources``
    replaces the three sites' sources (e.g. with :func:`lab_sources`); ``crawl``
    adds to the ``crawl`` settings (timeouts, ``resolve`` for the lab's host names).
    """
    dest.mkdir(parents=True, exist_ok=True)
    source_list = [dict(s) for s in sources] if sources is not None else fixture_sources(load_sites(), base_url)
    SourcesFile.model_validate({"sources": source_list})
    settings = fixture_settings(dest, smtp_port)
    if crawl:
        settings["crawl"] = {**settings["crawl"], **crawl}
        Settings.model_validate(settings)
    header = _HEADER.format(base_url=base_url)
    _write_yaml(dest / "sources.yaml", header, {"sources": source_list})
    _write_yaml(dest / "settings.yaml", header, settings)
    watchlists = dest / "watchlists"
    watchlists.mkdir(exist_ok=True)
    for path in sorted((Path(config.__file__).parent / "watchlists").glob("*.yaml")):
        shutil.copyfile(path, watchlists / path.name)
    return dest


def _write_yaml(path: Path, header: str, data: dict[str, Any]) -> None:
    path.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
