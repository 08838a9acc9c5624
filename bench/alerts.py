"""End-to-end alert latency: an article appears on a fixture site → its email arrives.

Run:  .venv/bin/python bench/alerts.py [--articles 50] [--interval 10s] [--gap 4] [--seed 6]
      (about 5 minutes: 50 articles published over ~3.5 minutes, then the tail)

The real service (``hlidka run`` in its own process, as users run it) crawls
the three fixture sites (an HTML listing, an RSS feed in windows-1250, a
Ukrainian portal) every ``--interval`` and mails its alerts to a local SMTP
server (MailSink). Articles that match the shipped Korea watchlist are
published one by one, at random gaps averaging ``--gap`` seconds, rotating over
the three sites; the latency of each is the time from ``web.publish`` to the
moment the SMTP server has the whole message.

Figures printed next to it, from the same run, say where the time goes:
waiting for the next revisit (publish → start of the first crawl run of that
source that began after it; at most the interval plus its jitter), the crawl
run itself (a fresh child process: Scrapy, extraction, matching, storing), and
delivery (crawl run finished → email received: the service's dispatch plus
apprise and SMTP). The floor of the last is a direct send of a rendered alert
to the same SMTP server, measured here too. Alerts are dispatched right after
every crawl that stored articles, so ``alerts.dispatch_interval`` is left at
its default of 30 s and does not add to the latency.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.channels import deliver, resolve_channel, sample_alert_context  # noqa: E402
from alerts.render import render_alert  # noqa: E402
from config import load_config  # noqa: E402
from hlidka.fixtureweb import FixtureWeb, write_fixture_config  # noqa: E402
from hlidka.mailsink import MailSink  # noqa: E402

SITES = ("mocr", "zpravy", "ua")
SYLLABLES = {
    "cs": ("pro", "sta", "no", "vi", "ko", "ra", "le", "tě", "zá", "ko", "ny", "ve", "dě", "ní", "ská", "mi", "lo"),
    "uk": ("про", "ста", "но", "ві", "ко", "ра", "ле", "ти", "за", "ни", "ве", "ді", "ння", "ська", "мі", "ло"),
}
KOREA_SENTENCE = {
    "cs": "Korejská republika a její ministerstvo obrany v Soulu o tom jednaly s partnery.",
    "uk": "Південна Корея та міністерство оборони в Сеулі обговорили це з партнерами.",
}
TITLE = {"cs": "Korejská republika: zpráva {token}", "uk": "Південна Корея: повідомлення {token}"}


@dataclass
class Published:
    token: str
    site: str
    at: float


def pseudo_text(rng: random.Random, language: str) -> str:
    """Three paragraphs of unique pseudo-words around one Korea sentence: no two articles look alike
    to the near-duplicate check, and the watchlist matches exactly once."""
    def word() -> str:
        return "".join(rng.choice(SYLLABLES[language]) for _ in range(rng.randint(2, 4)))

    def paragraph(words: int) -> str:
        sentences, left = [], words
        while left > 0:
            size = min(left, rng.randint(6, 14))
            sentences.append(" ".join(word() for _ in range(size)).capitalize() + ".")
            left -= size
        return " ".join(sentences)

    return "\n\n".join([paragraph(50), f"{paragraph(20)} {KOREA_SENTENCE[language]} {paragraph(20)}", paragraph(50)])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def describe(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<46} (none)"
    return (f"{name:<46} p50 {percentile(values, 0.5):6.1f} s   p95 {percentile(values, 0.95):6.1f} s   "
            f"mean {statistics.fmean(values):6.1f} s   max {max(values):6.1f} s")


def configure(directory: Path, web: FixtureWeb, mail: MailSink, interval: str) -> Path:
    config_dir = write_fixture_config(directory, web.base_url, smtp_port=mail.port)
    sources_path, settings_path = config_dir / "sources.yaml", config_dir / "settings.yaml"
    sources = yaml.safe_load(sources_path.read_text(encoding="utf-8"))
    for source in sources["sources"]:
        source["interval"] = interval
    sources_path.write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
    settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
    settings["alerts"].pop("dispatch_interval", None)  # the default (30 s): dispatch follows each crawl anyway
    settings_path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return config_dir


def settle(mail: MailSink, quiet: float, limit: float) -> int:
    """Wait until no mail has arrived for ``quiet`` seconds (the first crawl's alerts are done)."""
    deadline = time.monotonic() + limit
    mail.wait_for(1, timeout=limit)
    count, since = len(mail.messages), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.5)
        if len(mail.messages) != count:
            count, since = len(mail.messages), time.monotonic()
    return count


def delivery_floor(config_dir: Path) -> list[float]:
    """Rendering excluded: one apprise send of a ready alert to the same SMTP server, ten times (warm)."""
    config = load_config(config_dir)
    channel = resolve_channel(config, config.settings.default_channels[0])
    rendered = render_alert(sample_alert_context())
    assert deliver(channel, rendered).ok  # the first send loads apprise's email plugin
    times = []
    for _ in range(10):
        started = time.time()
        assert deliver(channel, rendered).ok
        times.append(time.time() - started)
    return times


def crawl_runs(database: Path) -> list[tuple[str, float, float]]:
    """(source, started, finished) of every finished run, as UNIX times."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT source_id, started_at, finished_at FROM crawl_runs WHERE finished_at IS NOT NULL").fetchall()
    stamp = lambda text: datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()  # noqa: E731
    return [(source, stamp(started), stamp(finished)) for source, started, finished in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=50)
    parser.add_argument("--interval", default="10s", help="revisit interval of every source (default 10s)")
    parser.add_argument("--gap", type=float, default=4.0, help="mean seconds between two publications")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with FixtureWeb() as web, MailSink() as mail, tempfile.TemporaryDirectory(prefix="hlidka-bench-") as tmp:
        config_dir = configure(Path(tmp) / "config", web, mail, args.interval)
        log_path = Path(tmp) / "service.log"
        print(f"fixture web {web.base_url}, SMTP 127.0.0.1:{mail.port}, revisit every {args.interval}; "
              f"service log {log_path}", flush=True)
        with log_path.open("w") as log:
            service = subprocess.Popen([sys.executable, "-m", "hlidka", "run", "--config", str(config_dir)],
                                       stdout=log, stderr=subprocess.STDOUT)
            try:
                first = settle(mail, quiet=15, limit=300)
                print(f"first crawl done: {first} alert emails for the sites' own articles", flush=True)
                before = len(mail.messages)
                published: list[Published] = []
                for n in range(args.articles):
                    site = SITES[n % len(SITES)]
                    language = "uk" if site == "ua" else "cs"
                    token = f"B{n:02d}-{rng.randrange(16**4):04x}"
                    web.publish(site, {"title": TITLE[language].format(token=token),
                                       "text": pseudo_text(rng, language)})
                    published.append(Published(token, site, time.time()))
                    time.sleep(rng.uniform(0.25, 1.75) * args.gap)
                print(f"published {len(published)} articles; waiting for the last alerts", flush=True)
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline:
                    arrived = {p.token for p in published for m in mail.messages[before:] if p.token in m.subject}
                    if len(arrived) == len(published):
                        break
                    time.sleep(1)
                time.sleep(5)  # a duplicate would come with the next dispatch
            finally:
                service.terminate()
                service.wait(timeout=60)
            floor = delivery_floor(config_dir)
            runs = crawl_runs(Path(tmp) / "config" / "hlidka.db")

    received = Counter(p.token for m in mail.messages[before:] for p in published if p.token in m.subject)
    latencies, waits, crawls, deliveries = [], [], [], []
    for item in published:
        mails = [m for m in mail.messages[before:] if item.token in m.subject]
        if not mails:
            continue
        arrived = mails[0].received_at
        latencies.append(arrived - item.at)
        run = min((r for r in runs if r[0] == item.site and r[1] >= item.at), default=None, key=lambda r: r[1])
        if run is not None and run[2] <= arrived:
            waits.append(run[1] - item.at)
            crawls.append(run[2] - run[1])
            deliveries.append(arrived - run[2])

    print()
    print(f"articles published: {len(published)}   alerted: {len(received)}   "
          f"missing: {len(published) - len(received)}   duplicates: {sum(c - 1 for c in received.values())}")
    print(describe("latency, publish → email", latencies))
    print(describe("  waiting for the revisit", waits))
    print(describe("  crawl run (child process)", crawls))
    print(describe("  crawl finished → email (dispatch + SMTP)", deliveries))
    print(describe("baseline: one direct apprise send to the sink", floor))
    return 0 if len(received) == len(published) and all(c == 1 for c in received.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
