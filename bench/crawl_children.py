"""What crawl processes cost: started as a command or forked from the warmed template; batched or not.

Run:  .venv/bin/python bench/crawl_children.py [--runs 5]   (about 3 min)

Each round crawls the same three fixture sites once (revisits: the listings
are unchanged, as on most runs of a real service) in three ways: one
``hlidka crawl`` command for the three; one process forked from the template
for the three (a batch); one forked process per source. The differences are
what the service pays per crawl process before and beside the crawl itself.
CPU is user+system of the crawl process and everything it started: for the
command, ``getrusage(RUSAGE_CHILDREN)`` of this process; for forked children,
the reaped-children CPU of the template process (``/proc/PID/stat`` cutime and
cstime), since the template, not this process, is their parent. The one-time
cost of the template itself (imports and dictionaries, paid at service start)
is printed apart.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.crawls import ForkLauncher, hlidka_crawl_command, watch  # noqa: E402
from config import load_config  # noqa: E402
from hlidka.fixtureweb import FixtureWeb, write_fixture_config  # noqa: E402
from pipelines.matching import lint_watchlist  # noqa: E402

SOURCES = ["mocr", "zpravy", "ua"]
TICKS = os.sysconf("SC_CLK_TCK")


def proc_times(pid: int) -> tuple[float, float]:
    """(own CPU, reaped children's CPU) of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime) / TICKS, (cutime + cstime) / TICKS


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hlidka-children-") as tmp, FixtureWeb() as web:
        directory = write_fixture_config(Path(tmp) / "config", web.base_url)
        loaded = load_config(directory, linters=(lint_watchlist,))
        config = replace(loaded, settings=loaded.settings.model_copy(update={"log_level": "WARNING"}))
        subprocess.run([sys.executable, "-m", "hlidka", "crawl", "--no-send", "--config", str(directory)],
                       check=True, capture_output=True, cwd=ROOT)  # first crawl: later runs are revisits
        snapshot = Path(tmp) / "config.pickle"  # what the service hands its crawl processes
        snapshot.write_bytes(pickle.dumps(config))

        command_cpu, command_wall = [], []
        for _ in range(args.runs):
            before, started = children_cpu(), time.monotonic()
            subprocess.run(hlidka_crawl_command(snapshot, SOURCES), check=True, capture_output=True, cwd=ROOT)
            command_cpu.append(children_cpu() - before)
            command_wall.append(time.monotonic() - started)

        launcher, stopping, give_up = ForkLauncher(), threading.Event(), threading.Event()
        started = time.monotonic()
        first = launcher.start(snapshot, SOURCES, "text")  # starts the template process (blocks until it is warm)
        template_start = time.monotonic() - started
        watch(first, config.settings.crawl.crawl_timeout, 2**40, stopping, give_up)
        first.close()
        template = next(int(p) for p in os.listdir("/proc") if p.isdigit() and _is_template(int(p)))
        template_own = proc_times(template)[0]

        def forked(batches: list[list[str]]) -> tuple[float, float]:
            """CPU and wall seconds of crawling ``batches``, one forked process per batch, one after another."""
            before, began = proc_times(template)[1], time.monotonic()
            for batch in batches:
                child = launcher.start(snapshot, batch, "text")
                ended = watch(child, config.settings.crawl.crawl_timeout, 2**40, stopping, give_up)
                child.close()
                assert ended.code in (0, 1), ended
            time.sleep(0.3)  # the template reaps its children asynchronously
            return proc_times(template)[1] - before, time.monotonic() - began

        batched = [forked([SOURCES]) for _ in range(args.runs)]
        single = [forked([[source] for source in SOURCES]) for _ in range(args.runs)]

    runs = args.runs
    print(f"{runs} rounds; a round crawls the 3 fixture sites once (revisits: unchanged listings)")
    print(f"{'crawl processes':<46} {'CPU s / round':>14} {'wall s / round':>15} {'CPU s / source run':>19}")
    rows = [
        ("command (hlidka crawl), 3 sources in one", sum(command_cpu) / runs, sum(command_wall) / runs),
        ("forked from the template, 3 sources in one", sum(c for c, _ in batched) / runs, sum(w for _, w in batched) / runs),
        ("forked from the template, one per source", sum(c for c, _ in single) / runs, sum(w for _, w in single) / runs),
    ]
    for label, cpu, wall in rows:
        print(f"{label:<46} {cpu:>14.2f} {wall:>15.2f} {cpu / len(SOURCES):>19.2f}")
    print(f"template process, once per service start: {template_own:.2f} CPU s, ready after {template_start:.1f} s")
    print(f"CPU per round, command / forked batch: {rows[0][1] / rows[1][1]:.1f}x; "
          f"forked one per source / forked batch: {rows[2][1] / rows[1][1]:.1f}x")
    return 0


def _is_template(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            line = handle.read()
        with open(f"/proc/{pid}/stat") as handle:
            parent = int(handle.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return False
    return b"forkserver" in line and parent == os.getpid()


if __name__ == "__main__":
    sys.exit(main())
