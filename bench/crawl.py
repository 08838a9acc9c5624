"""Crawl throughput on a generated news site of realistic pages, with every ceiling measured in the same run.

    .venv/bin/python bench/crawl.py [--articles 5000] [--extraction-sample 1000] [--server auto|nginx|python]
                                    [--repeat N]

Generates a Czech news site (listing pages of 100 teasers, ~90 KB article pages with a mega-menu,
inline config scripts, teasers, a sidebar and a footer) into a temporary folder, serves it on
127.0.0.1 with nginx (``bench/setup-nginx.sh`` installs it; without it a stdlib server is used and
the report says so), then measures, one after the other:

1. the server alone: an asyncio keep-alive client fetching every article (16 connections);
2. a plain Scrapy spider over the same site: listings and articles, no pipelines — the fetch ceiling;
3. trafilatura alone with our settings (one ``bare_extraction`` with precision, metadata and our
   date and content options) over the same pages in this one process — the extraction ceiling —
   and right after it our ``extract_article``, which returns the same text, title, author and date
   but skips the metadata Hlídka never stores (``pipelines.articlemeta``); both measured before
   and again after step 5, and the mean of the two is used, because this machine's speed drifts
   by ±20 % over a minute;
4. the same pages through a pool of one worker per core doing only what the crawl's workers do
   (decoding, extraction and fingerprints), nothing else running — what the cores can give at best;
5. ``hlidka crawl`` through the full pipeline (extraction in the worker pool, dedupe, matching with the
   shipped watchlists, storage in SQLite) into an empty database: articles/s;
6. an unchanged revisit with the same command: requests and bytes the server sent;

and then the bound these cores set for the CPU that step 5 spent per article (workers and crawl
process together), how close the pipeline came to it, and what 1.5× would leave the crawl process.
With ``--repeat N`` steps 3 and 5 are measured N times in all and the goal is judged on the median
ratio: the same code gives ratios 5 % apart within the hour here.

The goal: the full pipeline at ≥ 1.5× the extraction ceiling (both cores at work, the crawl not
blocked) and never below 0.8×. The machine is shared, so read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PER_PAGE = 100
CONCURRENCY = 16
SECTION = "zpravy"

# --------------------------------------------------------------------------- the generated site

_WORDS = """armáda ministerstvo obrany vláda poslanci senát rozpočet zakázka vojáci výcvik cvičení brigáda pluk
letectvo vrtulník tank obrněný transportér munice sklad logistika nábor záloha kasárna újezd velitel generál
náčelník štáb spojenci jednání summit delegace velvyslanec smlouva dohoda spolupráce bezpečnost hrozba obrana
kraj hejtman starosta obec město nemocnice hasiči policie záchranáři povodně silnice dálnice most železnice
doprava energetika plyn elektřina ceny inflace mzdy důchody daně školství učitelé studenti univerzita výzkum
vědci zdravotnictví lékaři pacienti pojišťovna soud žaloba rozsudek vyšetřování korupce kontrola úřad úředníci
volby strana koalice opozice premiér prezident ministr náměstek mluvčí tisková konference prohlášení zpráva
data statistika průzkum veřejnost občané lidé rodiny děti senioři zaměstnanci firmy podniky výroba export trh
nový starý velký malý rychlý pomalý důležitý zásadní klíčový další první poslední letošní loňský příští
dnes včera zítra ráno večer týden měsíc rok stovky tisíce miliony miliardy korun procent kilometrů
uvedl řekl dodal oznámil potvrdil odmítl slíbil plánuje chystá připravuje schválil podepsal zahájil dokončil
kvůli kromě podle během před po mezi pro proti bez přes""".split()
_SECTIONS = ["Domácí", "Zahraničí", "Ekonomika", "Kultura", "Sport", "Věda", "Regiony", "Komentáře",
             "Bezpečnost", "Technologie", "Zdraví", "Cestování"]


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng, rng.randint(9, 22)) for _ in range(rng.randint(3, 5)))


@dataclass(frozen=True)
class Story:
    id: int
    slug: str
    title: str
    perex: str
    published: datetime
    path: str


def _stories(count: int, rng: random.Random) -> list[Story]:
    start = datetime(2025, 6, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    stories = []
    for n in range(count):
        title = _sentence(rng, rng.randint(6, 11)).rstrip(".")
        slug = "-".join(title.lower().split()[:6]).translate(str.maketrans("áčďéěíňóřšťúůýž", "acdeeinorstuuyz"))
        published = start + timedelta(minutes=17 * n)
        path = f"/{SECTION}/{published:%Y/%m}/{slug}-{100000 + n}.html"
        stories.append(Story(100000 + n, slug, title, _sentence(rng, 28), published, path))
    stories.reverse()  # newest first, as listings show them
    return stories


def _chrome(rng: random.Random) -> tuple[str, str, str]:
    """Head extras, header and footer shared by every page — as big as real news sites make them."""
    config = {"sections": [{"name": s, "url": f"/{SECTION}/{s.lower()}/", "children": [
        {"name": _sentence(rng, 3).rstrip("."), "url": f"/{SECTION}/{s.lower()}/{i}/"} for i in range(40)]}
        for s in _SECTIONS], "ads": {"slots": [f"slot-{i}" for i in range(30)], "targeting": _WORDS[:120]}}
    head = (f"<style>{'.c{margin:0;padding:0} ' * 900}</style>\n"
            f"<script>window.__APP_CONFIG__ = {json.dumps(config, ensure_ascii=False)};</script>\n")
    menu = "".join(
        f'<li class="menu-section"><a href="/{SECTION}/{s.lower()}/">{s}</a><ul class="submenu">'
        + "".join(f'<li><a href="/{SECTION}/{s.lower()}/{i}/">{escape(_sentence(rng, 3).rstrip("."))}</a></li>'
                  for i in range(14))
        + "</ul></li>" for s in _SECTIONS)
    trending = "".join(f'<li><a href="/tema/{w}/">#{w}</a></li>' for w in rng.sample(_WORDS, 12))
    header = (f'<header class="site-header"><a class="logo" href="/">Zprávy dne</a>'
              f'<nav class="mega-menu" aria-label="Hlavní menu"><ul>{menu}</ul></nav>'
              f'<div class="trending"><span>Témata:</span><ul>{trending}</ul></div></header>')
    columns = "".join(
        f'<div class="footer-col"><h4>{s}</h4><ul>'
        + "".join(f'<li><a href="/{SECTION}/{s.lower()}/archiv/{i}/">{escape(_sentence(rng, 2).rstrip("."))}</a></li>'
                  for i in range(8))
        + "</ul></div>" for s in _SECTIONS)
    footer = (f'<footer class="site-footer">{columns}<p class="legal">{_paragraph(rng)}</p>'
              f'<div class="cookie-consent"><p>{_paragraph(rng)}</p><button>Souhlasím</button></div></footer>')
    return head, header, footer


def _teasers(stories: list[Story], css: str) -> str:
    return "".join(
        f'<article class="{css}"><h3><a href="{s.path}">{escape(s.title)}</a></h3><p>{escape(s.perex)}</p></article>'
        for s in stories)


def _page(title: str, head: str, chrome: tuple[str, str, str], main: str, sidebar: str) -> str:
    extra_head, header, footer = chrome
    return (f'<!DOCTYPE html>\n<html lang="cs"><head><meta charset="utf-8"><title>{escape(title)} | Zprávy dne</title>'
            f"{head}{extra_head}</head><body>{header}<div class=\"layout\"><main>{main}</main>"
            f'<aside class="sidebar">{sidebar}</aside></div>{footer}</body></html>\n')


def generate_site(root: Path, count: int, seed: int = 4) -> list[Story]:
    """Write robots.txt, the paginated listing and ``count`` article pages under ``root``."""
    rng = random.Random(seed)
    stories = _stories(count, rng)
    chrome = _chrome(rng)
    most_read = "<h2>Nejčtenější</h2>" + _teasers(stories[:10], "most-read")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /admin/\n", encoding="utf-8")
    pages = (count + PER_PAGE - 1) // PER_PAGE
    for page in range(1, pages + 1):
        chunk = stories[(page - 1) * PER_PAGE: page * PER_PAGE]
        pager = (f'<a rel="next" class="next" href="/{SECTION}/strana/{page + 1}/">Další</a>' if page < pages else "")
        main = f'<h1>Zprávy – strana {page}</h1><div class="article-list">{_teasers(chunk, "teaser")}</div>' \
               f'<nav class="pagination">{pager}</nav>'
        folder = root / SECTION if page == 1 else root / SECTION / "strana" / str(page)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text(_page("Zprávy", "", chrome, main, most_read), encoding="utf-8")
    for index, story in enumerate(stories):
        body = "".join(f"<p>{_paragraph(rng)}</p>" for _ in range(rng.randint(7, 11)))
        related = stories[max(0, index - 6): index] + stories[index + 1: index + 7]
        head = (f'<meta property="og:title" content="{escape(story.title)}">'
                f'<meta property="article:published_time" content="{story.published.isoformat()}">'
                f'<link rel="canonical" href="{story.path}">'
                f'<script type="application/ld+json">{json.dumps({"@type": "NewsArticle", "headline": story.title, "datePublished": story.published.isoformat()}, ensure_ascii=False)}</script>')
        main = (f'<nav class="breadcrumbs"><a href="/">Úvod</a> › <a href="/{SECTION}/">Zprávy</a></nav>'
                f'<article class="article"><h1>{escape(story.title)}</h1>'
                f'<p class="meta"><time datetime="{story.published.isoformat()}">{story.published:%d. %m. %Y %H:%M}</time>'
                f' <span class="author">Redakce</span></p><p class="perex"><strong>{escape(story.perex)}</strong></p>'
                f'<div class="article-body">{body}</div>'
                f'<div class="share"><a href="#">Facebook</a> <a href="#">X</a> <a href="#">E-mail</a></div></article>'
                f'<section class="related"><h2>Mohlo by vás zajímat</h2>{_teasers(related, "related-teaser")}</section>'
                f'<section class="comments"><h2>Diskuse</h2><p>{_sentence(rng, 12)}</p></section>')
        path = root / story.path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_page(story.title, head, chrome, main, most_read), encoding="utf-8")
    return stories


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Nginx:
    """nginx on a loopback port serving ``root``, with an access log of status, bytes and path."""

    name = "nginx"

    def __init__(self, root: Path, work: Path):
        self.port, self.work, self.log = free_port(), work, work / "access.log"
        user = "user root;" if os.geteuid() == 0 else ""
        (work / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  types {{ text/html html; text/plain txt; }}
  default_type application/octet-stream;
  charset utf-8;
  log_format bench '$status $body_bytes_sent $request_uri';
  access_log {self.log} bench;
  sendfile on; tcp_nopush on; keepalive_requests 1000000; keepalive_timeout 60;
  client_body_temp_path {work}/tmp; proxy_temp_path {work}/tmp; fastcgi_temp_path {work}/tmp;
  uwsgi_temp_path {work}/tmp; scgi_temp_path {work}/tmp;
  server {{ listen 127.0.0.1:{self.port}; root {root}; index index.html; }}
}}
""", encoding="utf-8")
        (work / "tmp").mkdir(exist_ok=True)
        self.process = subprocess.Popen([self.binary(), "-p", str(work), "-c", str(work / "nginx.conf"),
                                         "-g", "daemon off;"], stderr=subprocess.PIPE)
        _wait_for_port(self.port)

    @staticmethod
    def binary() -> str:
        return shutil.which("nginx") or "/usr/sbin/nginx"

    @classmethod
    def available(cls) -> bool:
        return Path(cls.binary()).exists()

    def requests(self) -> list[tuple[int, int, str]]:
        lines = self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []
        return [(int(status), int(size), path) for status, size, path in (line.split(" ", 2) for line in lines)]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class _Handler(SimpleHTTPRequestHandler):
    """Logs (status, body bytes, path) like the nginx access log above."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        server: StdlibServer = self.server.owner  # type: ignore[attr-defined]
        with server.lock:
            server.log.append((code, 0, self.path))

    def copyfile(self, source: Any, outputfile: Any) -> None:
        data = source.read()
        outputfile.write(data)
        server: StdlibServer = self.server.owner  # type: ignore[attr-defined]
        with server.lock:
            index = max(i for i, (_, _, path) in enumerate(server.log) if path == self.path)
            status, _, path = server.log[index]
            server.log[index] = (status, len(data), path)


class StdlibServer:
    """The fallback when nginx is missing: Python's threaded file server (with Last-Modified → 304)."""

    name = "python http.server (nginx not installed: run bench/setup-nginx.sh)"

    def __init__(self, root: Path, work: Path):
        self.port, self.log, self.lock = free_port(), [], threading.Lock()
        handler = lambda *a, **k: _Handler(*a, directory=str(root), **k)  # noqa: E731
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.server.owner = self  # type: ignore[attr-defined]
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self) -> list[tuple[int, int, str]]:
        with self.lock:
            return list(self.log)

    def stop(self) -> None:
        self.server.shutdown()


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# --------------------------------------------------------------------------- measurements


async def _fetch_all(port: int, paths: list[str], connections: int) -> int:
    """GET every path over ``connections`` keep-alive connections; returns the body bytes read."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    total = 0

    async def worker() -> None:
        nonlocal total
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not queue.empty():
            path = queue.get_nowait()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            total += len(await reader.readexactly(length))
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return total


def measure_server(port: int, paths: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    size = asyncio.run(_fetch_all(port, paths, CONCURRENCY))
    elapsed = time.perf_counter() - started
    return {"pages_per_s": len(paths) / elapsed, "mb_per_s": size / elapsed / 1e6}


def measure_plain_scrapy(base_url: str) -> dict[str, float]:
    """A bare spider in its own process (the reactor starts once per process)."""
    out = subprocess.run([sys.executable, __file__, "--plain-spider", base_url], capture_output=True, text=True,
                         timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"plain spider failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def plain_spider(base_url: str) -> None:
    import scrapy
    from scrapy.crawler import CrawlerProcess

    class Plain(scrapy.Spider):
        name = "plain"
        start_urls = [f"{base_url}/{SECTION}/"]

        def parse(self, response: Any) -> Any:
            for href in response.css(".article-list a::attr(href)").getall():
                yield response.follow(href, callback=self.article)
            next_page = response.css("a[rel=next]::attr(href)").get()
            if next_page:
                yield response.follow(next_page, callback=self.parse)

        def article(self, response: Any) -> None:
            response.text  # decode, as the pipeline's spider does

    process = CrawlerProcess({
        "CONCURRENT_REQUESTS": CONCURRENCY, "CONCURRENT_REQUESTS_PER_DOMAIN": CONCURRENCY, "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False, "ROBOTSTXT_OBEY": True, "COOKIES_ENABLED": False, "CONCURRENT_ITEMS": 10,
        "TELNETCONSOLE_ENABLED": False, "LOG_LEVEL": "WARNING",
    })
    crawler = process.create_crawler(Plain)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats()
    pages = stats.get("response_received_count", 0)
    elapsed = (stats["finish_time"] - stats["start_time"]).total_seconds()
    print(json.dumps({"pages": pages, "seconds": elapsed, "pages_per_s": pages / elapsed}))


def measure_extraction(root: Path, stories: list[Story], sample: int, *, stock: bool = True) -> dict[str, float]:
    """Pages per second of one extractor in this one process: stock trafilatura, or with ``stock`` False ours."""
    step = max(1, len(stories) // sample) if sample else 1
    chosen = stories[::step][:sample or None]
    pages = [(root / s.path.lstrip("/")).read_bytes().decode("utf-8") for s in chosen]
    extract = _stock_trafilatura if stock else _extract_article
    extract(pages[0], "http://127.0.0.1" + chosen[0].path)  # imports, caches
    started = time.perf_counter()
    ok = sum(extract(html, "http://127.0.0.1" + s.path) for html, s in zip(pages, chosen))
    elapsed = time.perf_counter() - started
    return {"docs": len(pages), "ok": ok, "docs_per_s": len(pages) / elapsed}


def _stock_trafilatura(html: str, url: str) -> bool:
    """The issue's extraction ceiling: trafilatura alone with our settings, one call, text and metadata."""
    from pipelines.extraction import trafilatura_extraction

    document = trafilatura_extraction(html, url, with_metadata=True)
    return document is not None and len(document.text or "") >= 200


def _extract_article(html: str, url: str) -> bool:
    from pipelines.extraction import extract_article

    return extract_article(html, url, language_hint="cs").ok


def measure_pool(root: Path, stories: list[Story], sample: int) -> dict[str, float]:
    """The crawl workers' own task over the same pages, one worker per core, nothing else running."""
    from concurrent.futures import ProcessPoolExecutor

    step = max(1, len(stories) // sample) if sample else 1
    chosen = stories[::step][:sample or None]
    pages = [(root / s.path.lstrip("/")).read_bytes() for s in chosen]
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_pool_task, pages[:workers * 2], [""] * workers * 2))  # start the workers, warm them
        started = time.perf_counter()
        ok = sum(pool.map(_pool_task, pages, ["http://127.0.0.1" + s.path for s in chosen], chunksize=4))
        elapsed = time.perf_counter() - started
    return {"docs": len(pages), "ok": ok, "workers": workers, "docs_per_s": len(pages) / elapsed}


def _pool_task(html: bytes, url: str) -> bool:
    from pipelines.pagetext import page_text

    page = page_text(html, "utf-8", "utf-8", None, url or "http://127.0.0.1/", language_hint="cs", min_chars=200)
    return page.extracted.ok


def write_config(work: Path, base_url: str, articles: int) -> Path:
    import yaml

    import config as shipped

    directory = work / "config"
    (directory / "watchlists").mkdir(parents=True, exist_ok=True)
    for path in (Path(shipped.__file__).parent / "watchlists").glob("*.yaml"):
        shutil.copyfile(path, directory / "watchlists" / path.name)
    pages = (articles + PER_PAGE - 1) // PER_PAGE
    settings = {"database": f"sqlite:///{work / 'hlidka.db'}", "log_level": "WARNING",
                "crawl": {"download_delay": "0s", "concurrent_requests_per_domain": CONCURRENCY, "autothrottle": False}}
    sources = {"sources": [{
        "id": "bench", "start_urls": [f"{base_url}/{SECTION}/"], "language": "cs",
        "article_links": [rf"/{SECTION}/\d{{4}}/\d{{2}}/[a-z0-9-]+-\d+\.html$"], "link_scope": ".article-list",
        "next_page": "a[rel=next]", "max_pages": min(100, pages), "max_articles": articles,
        "max_requests": articles + pages + 100,
    }]}
    (directory / "settings.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    (directory / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
    return directory


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process, from /proc (Linux); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def run_hlidka(config_dir: Path) -> dict[str, Any]:
    """``hlidka crawl`` in a child process, sampling the CPU time of it and of its extraction workers."""
    from sqlalchemy import select

    from config import load_config
    from hlidka.db import CrawlRun, open_database

    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "hlidka", "crawl", "--no-send", "--config", str(config_dir)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    cpu: dict[int, float] = {}
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(process.stderr or []), daemon=True)
    reader.start()
    while process.poll() is None:
        for pid in [process.pid, *_children(process.pid)]:
            seconds = _cpu_seconds(pid)
            if seconds is not None:
                cpu[pid] = seconds
        time.sleep(0.25)
    wall = time.perf_counter() - started
    reader.join()
    if process.returncode != 0:
        raise RuntimeError(f"hlidka crawl failed ({process.returncode}):\n{''.join(stderr)[-3000:]}")
    main_cpu = cpu.pop(process.pid, 0.0)
    database = open_database(load_config(config_dir).database_url)
    with database.session() as session:
        run = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(1)).one()
        assert run.finished_at is not None
        result = {"articles": run.articles_new, "pages": run.pages, "status": run.status,
                  "crawl_seconds": (run.finished_at - run.started_at).total_seconds(), "wall_seconds": wall,
                  "crawl_process_cpu_seconds": main_cpu, "worker_cpu_seconds": sum(cpu.values())}
    database.dispose()
    return result


def measure_both(root: Path, stories: list[Story], sample: int) -> dict[str, dict[str, float]]:
    """Step 3: the ceiling and our extractor, one right after the other so that both see the same machine."""
    return {"trafilatura": measure_extraction(root, stories, sample),
            "ours": measure_extraction(root, stories, sample, stock=False)}


def measure_again(root: Path, stories: list[Story], sample: int, config_dir: Path, work: Path) -> dict[str, float]:
    """Steps 3 and 5 once more, into a fresh database: one more sample of a ratio that drifts with the machine."""
    for leftover in work.glob("hlidka.db*"):
        leftover.unlink()
    before = measure_both(root, stories, sample)
    full = run_hlidka(config_dir)
    ceiling, ours, rate = _ceiling_and_rate(before, measure_both(root, stories, sample), full)
    return {"ceiling": ceiling, "ours": ours, "articles_per_s": rate, "ratio": rate / ceiling}


def _ceiling_and_rate(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]],
                      full: dict[str, Any]) -> tuple[float, float, float]:
    """The extraction ceiling and our extractor's docs/s (each the mean of its measurements around the
    crawl) and the pipeline's articles/s."""
    def mean(name: str) -> float:
        return (before[name]["docs_per_s"] + after[name]["docs_per_s"]) / 2

    return mean("trafilatura"), mean("ours"), full["articles"] / full["crawl_seconds"]


# --------------------------------------------------------------------------- report


def _attainable(full: dict[str, Any], revisit: dict[str, Any], rate: float, ceiling: float, plain_rate: float) -> str:
    """The rate these cores allow for what the pipeline spends per article, and what 1.5× would leave the crawl.

    Every article costs the extraction workers' CPU plus the crawl process's
    (fetch, dedupe, matching, storage), all on the same cores, so no scheduling
    can beat cores / (both per article). The crawl process's start-up (imports,
    the watchlists' matcher) is taken from the revisit, which does little else.
    """
    cores = os.cpu_count() or 1
    articles = full["articles"]
    workers = full["worker_cpu_seconds"] / articles
    crawl = max(0.0, full["crawl_process_cpu_seconds"] - revisit["crawl_process_cpu_seconds"]) / articles
    bound = cores / (workers + crawl)
    left = cores / (1.5 * ceiling) - workers
    room = f"at most {left * 1000:.1f} ms" if left > 0 else "nothing: the workers alone spend more than that"
    return (f"   bound for this CPU per article ({workers * 1000:.1f} ms in the workers, {crawl * 1000:.1f} ms in the "
            f"crawl process after its {revisit['crawl_process_cpu_seconds']:.1f} s start-up): {bound:.1f} articles/s "
            f"= {bound / ceiling:.2f}× the extraction ceiling; the pipeline reaches {rate / bound:.0%} of it. "
            f"1.5× would leave the crawl process {room} per article; a plain Scrapy spider spends "
            f"{1000 / plain_rate:.1f} ms per page")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--extraction-sample", type=int, default=1000,
                        help="pages for the extraction ceiling, evenly spread over the site (0 = all)")
    parser.add_argument("--server", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="measure the ceiling and the full pipeline N times in all (a fresh database each "
                             "time) and report each ratio and their median: this machine's speed drifts")
    parser.add_argument("--keep", action="store_true", help="keep the generated site and database")
    parser.add_argument("--plain-spider", metavar="BASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_spider:
        plain_spider(args.plain_spider)
        return 0
    if args.server == "nginx" and not Nginx.available():
        parser.error("nginx is not installed: run bench/setup-nginx.sh")

    work = Path(tempfile.mkdtemp(prefix="hlidka-bench-crawl-"))
    site = work / "site"
    site.mkdir()
    started = time.perf_counter()
    stories = generate_site(site, args.articles)
    sizes = [(site / s.path.lstrip("/")).stat().st_size for s in stories]
    print(f"site: {len(stories)} articles, mean {sum(sizes) / len(sizes) / 1024:.1f} KB "
          f"[{min(sizes) / 1024:.0f}–{max(sizes) / 1024:.0f}], {len(stories) // PER_PAGE} listing pages, "
          f"generated in {time.perf_counter() - started:.1f} s")
    use_nginx = args.server == "nginx" or (args.server == "auto" and Nginx.available())
    server = Nginx(site, work) if use_nginx else StdlibServer(site, work)
    base_url = f"http://127.0.0.1:{server.port}"
    print(f"server: {server.name} on {base_url}; {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (other work on the machine skews every figure)")
    try:
        results: dict[str, Any] = {"server": measure_server(server.port, [s.path for s in stories])}
        print(f"1. server alone (asyncio client, {CONCURRENCY} connections): "
              f"{results['server']['pages_per_s']:.0f} pages/s, {results['server']['mb_per_s']:.0f} MB/s")
        results["plain"] = measure_plain_scrapy(base_url)
        print(f"2. plain Scrapy spider (fetch ceiling): {results['plain']['pages_per_s']:.0f} pages/s "
              f"({results['plain']['pages']} pages in {results['plain']['seconds']:.1f} s)")
        results["extraction"] = measure_both(site, stories, args.extraction_sample)
        stock, ours = results["extraction"]["trafilatura"], results["extraction"]["ours"]
        print(f"3. trafilatura alone with our settings (bare_extraction: precision, metadata, our date and "
              f"content options), one process (extraction ceiling): {stock['docs_per_s']:.1f} docs/s "
              f"({stock['docs']} pages, {stock['ok']} with text); our extract_article (the same text, title, "
              f"author and date, without the metadata we never store), one process: {ours['docs_per_s']:.1f} "
              f"docs/s ({ours['ok']} accepted); both measured again after step 5")
        results["pool"] = pool = measure_pool(site, stories, args.extraction_sample)
        print(f"4. the workers' task alone, {pool['workers']} processes, nothing else running: "
              f"{pool['docs_per_s']:.1f} docs/s")
        config_dir = write_config(work, base_url, args.articles)
        results["full"] = full = run_hlidka(config_dir)
        results["extraction_after"] = after = measure_both(site, stories, args.extraction_sample)
        ceiling, ours, rate = _ceiling_and_rate(results["extraction"], after, full)
        print(f"3. again: trafilatura {after['trafilatura']['docs_per_s']:.1f}, extract_article "
              f"{after['ours']['docs_per_s']:.1f} docs/s; extraction ceiling (mean) {ceiling:.1f} docs/s, "
              f"extract_article (mean) {ours:.1f} docs/s = {ours / ceiling:.2f}× it; the pool of step 4 is "
              f"{pool['docs_per_s'] / ceiling:.2f}× the ceiling, {pool['docs_per_s'] / ours:.2f}× extract_article")
        print(f"5. full pipeline (hlidka crawl, {os.cpu_count()} extraction workers): {rate:.1f} articles/s "
              f"= {rate / ceiling:.2f}× the extraction ceiling, {rate / ours:.2f}× extract_article in one process, "
              f"{rate / pool['docs_per_s']:.2f}× the bare pool, "
              f"{rate / results['plain']['pages_per_s']:.2f}× the fetch ceiling ({full['articles']} articles in "
              f"{full['crawl_seconds']:.1f} s of crawl, {full['wall_seconds']:.1f} s with process start-up; "
              f"run {full['status']})")
        if full["articles"]:
            per = 1000 / full["articles"]
            busy = (full["crawl_process_cpu_seconds"] + full["worker_cpu_seconds"]) / full["wall_seconds"]
            print(f"   CPU per article: crawl process {full['crawl_process_cpu_seconds'] * per:.1f} ms (fetch, dedupe, "
                  f"matching, storage; start-up included), extraction workers {full['worker_cpu_seconds'] * per:.1f} "
                  f"ms (extract_article alone in one process: {1000 / ours:.1f} ms); cores in use on average: {busy:.2f} of "
                  f"{os.cpu_count()} (load average now {os.getloadavg()[0]:.1f})")
        before = len(server.requests())
        results["revisit"] = revisit = run_hlidka(config_dir)
        seen = server.requests()[before:]
        statuses = Counter(status for status, _, _ in seen)
        print(f"6. unchanged revisit: {len(seen)} requests ({', '.join(f'{n}× {s}' for s, n in sorted(statuses.items()))}), "
              f"{sum(size for _, size, _ in seen)} body bytes, {revisit['articles']} articles, "
              f"{revisit['crawl_seconds']:.2f} s of crawl")
        results["revisit"]["requests"] = [f"{status} {path}" for status, _, path in seen]
        if full["articles"]:
            print(_attainable(full, revisit, rate, ceiling, results["plain"]["pages_per_s"]))
        ratios = [rate / ceiling]
        for run in range(2, args.repeat + 1):
            again = measure_again(site, stories, args.extraction_sample, config_dir, work)
            ratios.append(again["ratio"])
            print(f"run {run}: extraction ceiling {again['ceiling']:.1f} docs/s, extract_article "
                  f"{again['ours']:.1f} docs/s, full pipeline {again['articles_per_s']:.1f} articles/s = "
                  f"{again['ratio']:.2f}× the ceiling, {again['articles_per_s'] / again['ours']:.2f}× extract_article")
        results["ratios"] = ratios
        median = statistics.median(ratios)
        verdict = ("BELOW the floor" if min(ratios) < 0.8 else "meets" if median >= 1.5
                   else "below the 1.5× goal but above the floor")
        spread = (f"median of {len(ratios)} runs {median:.2f}× [{min(ratios):.2f}–{max(ratios):.2f}], "
                  f"{sum(r >= 1.5 for r in ratios)} of them ≥ 1.5×" if len(ratios) > 1 else f"{median:.2f}×")
        print(f"goal: full pipeline ≥ 1.5× extraction ceiling (never < 0.8×): {verdict} ({spread})")
        print(json.dumps(results, default=str))
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
