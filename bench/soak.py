"""Soak: ``hlidka run`` for 500 crawl cycles against the fixture web; its memory must stay flat.

Run:  .venv/bin/python bench/soak.py [--cycles 500] [--every 50] [--interval 1s]   (about 10-15 min)

A real ``hlidka run`` process (scheduler, crawl children forked from the warmed
template process, dispatcher, health checks, SQLite) crawls the three fixture
sites every ``--interval``; a cycle is one source's scheduled crawl run as
recorded in ``crawl_runs``. Every 25 cycles a new article is published on one
of the sites (every other one about Korea), so extraction, matching and email
alerts to a local SMTP sink keep happening, not only revisits. Every ``--every``
cycles the resident memory (VmRSS) of the service process is printed, with the
template process and the crawl processes started so far. The goal (issue 7):
the service's RSS after cycle 500 within 10 % of its RSS after cycle 50 (the
first figure is the baseline, measured in the same run).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from hlidka.db import CrawlRun, open_database  # noqa: E402
from hlidka.fixtureweb import FixtureWeb, write_fixture_config  # noqa: E402
from hlidka.mailsink import MailSink  # noqa: E402

KOREA = (
    "Jižní Korea a Česká republika podepsaly memorandum o spolupráci obranného průmyslu.",
    "Korejská republika nabídla podíl na výrobě houfnic K9 i na výcviku obsluhy.",
    "Severní Korea podle jihokorejské armády odpálila dvě balistické rakety krátkého doletu.",
    "Delegace ministerstva navštívila loděnice v Ulsanu a jednala o dodávkách munice.",
    "Soul a Praha se dohodly na pravidelných konzultacích o kybernetické bezpečnosti.",
    "Jihokorejský ministr obrany ocenil českou pomoc Ukrajině a zájem o společný vývoj.",
)
FILLER = (
    "Vojáci posádky v Táboře dokončili výcvik s novou technikou.",
    "Velitel ocenil nasazení záloh při nedávných povodních v regionu.",
    "Armáda letos přijala rekordní počet nových vojáků z povolání.",
    "Vojenské lesy a statky vysadily na Libavé přes milion stromků.",
    "Kasárna v Jindřichově Hradci projdou rozsáhlou rekonstrukcí.",
    "Vojenští lékaři učili studenty středních škol první pomoc.",
)


def article(number: int) -> dict[str, str]:
    """A distinct article each time (an identical or near-identical text is the same story: no new alert);
    odd numbers are about Korea, so they match the shipped watchlist and raise an alert."""
    rng = random.Random(number)
    sentences = rng.sample(KOREA, 4) + rng.sample(FILLER, 2) if number % 2 else rng.sample(FILLER, 6)
    words = " ".join(rng.choice(("plán", "rozpočet", "útvar", "cvičení", "dodávka", "jednání", "zkouška", "posádka"))
                     + f"-{rng.randrange(10**6)}" for _ in range(30))
    text = " ".join(sentences) + f" Poznámka {number}: {words}."
    return {"title": f"Soak {number}: {sentences[0][:60]}", "text": text}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def children_of(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            found += [int(p) for p in handle.read().split()]
    return found


def template_process(pid: int) -> int | None:
    """The fork server the service starts for its crawl children."""
    for child in children_of(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as handle:
                if b"forkserver" in handle.read():
                    return child
        except OSError:
            continue
    return None


def write_config(dest: Path, web: FixtureWeb, mail: MailSink, interval: str) -> Path:
    directory = write_fixture_config(dest, web.base_url, smtp_port=mail.port)
    sources_path = directory / "sources.yaml"
    sources = yaml.safe_load(sources_path.read_text(encoding="utf-8"))
    for source in sources["sources"]:
        source.update({"interval": interval, "jitter": "0s"})
    sources_path.write_text(yaml.safe_dump(sources, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return directory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--interval", default="1s", help="schedule of each source (default 1s: back to back)")
    parser.add_argument("--publish-every", type=int, default=25)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hlidka-soak-") as tmp, FixtureWeb() as web, MailSink() as mail:
        directory = write_config(Path(tmp) / "config", web, mail, args.interval)
        log_path = Path(tmp) / "service.log"
        database = open_database(f"sqlite:///{directory / 'hlidka.db'}")
        print(f"hlidka run --config {directory}  (sources every {args.interval}; log {log_path})", flush=True)
        print(f"{'cycle':>6} {'minutes':>8} {'service RSS MiB':>16} {'vs first':>9} {'template RSS MiB':>17} "
              f"{'crawl processes':>16} {'articles':>9} {'emails':>7}", flush=True)
        started = time.monotonic()
        with log_path.open("w") as log:
            service = subprocess.Popen([sys.executable, "-m", "hlidka", "run", "--config", str(directory)],
                                       stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        figures: list[tuple[int, int]] = []
        published = 0
        try:
            next_report = args.every
            while next_report <= args.cycles:
                with database.session() as session:
                    cycles = session.scalar(select(func.count()).select_from(CrawlRun)
                                            .where(CrawlRun.status.in_(("ok", "failed")))) or 0
                    failed = session.scalar(select(func.count()).select_from(CrawlRun)
                                            .where(CrawlRun.status == "failed")) or 0
                    articles = session.scalar(select(func.sum(CrawlRun.articles_new))) or 0
                if cycles // args.publish_every > published:
                    published += 1
                    site = ("mocr", "zpravy", "ua")[published % 3]
                    web.publish(site, article(published))
                if cycles >= next_report:
                    rss = rss_kib(service.pid)
                    template = template_process(service.pid)
                    figures.append((cycles, rss))
                    crawls = log_path.read_text(errors="replace").count("hlidka.service: crawling ")
                    print(f"{next_report:>6} {(time.monotonic() - started) / 60:>8.1f} {rss / 1024:>16.1f} "
                          f"{(rss / figures[0][1] - 1) * 100:>+8.1f}% "
                          f"{(rss_kib(template) / 1024 if template else 0):>17.1f} {crawls:>16} {articles:>9} "
                          f"{len(mail.messages):>7}", flush=True)
                    next_report += args.every
                if service.poll() is not None:
                    print(f"the service exited with {service.returncode}; see {log_path}", file=sys.stderr)
                    return 1
                time.sleep(0.5)
        finally:
            service.send_signal(signal.SIGTERM)
            code = service.wait(timeout=120)
            database.dispose()
        first, last = figures[0][1], figures[-1][1]
        change = (last / first - 1) * 100
        verdict = "OK" if abs(change) <= 10 else "FAIL"
        print(f"service RSS after cycle {args.every}: {first / 1024:.1f} MiB; after cycle {args.cycles}: "
              f"{last / 1024:.1f} MiB ({change:+.1f} %, goal within ±10 %): {verdict}")
        print(f"failed runs: {failed}; service exit code after SIGTERM: {code}")
        return 0 if verdict == "OK" and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
