"""``hlidka demo``: the whole path, offline, for a newcomer.

Everything runs on 127.0.0.1: the fixture news web, a real SMTP server, a
temporary database. The crawls run as children exactly as the service runs
them. The second round publishes one article and shows that only it alerts.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from hlidka.fixtureweb import FixtureWeb, write_fixture_config
from hlidka.mailsink import MailSink, ReceivedMessage

NEW_ARTICLE = {
    "title": "Ministr obrany jednal v Soulu o spolupráci s Korejskou republikou",
    "text": (
        "Ministr obrany dnes v Soulu jednal se svým jihokorejským protějškem o prohloubení obranné "
        "spolupráce. Korejská republika je pro Českou republiku klíčovým partnerem v Asii.\n\n"
        "Obě strany se dohodly na pravidelných konzultacích a na setkání smíšené komise pro "
        "průmyslovou spolupráci, které se uskuteční na jaře v Praze."
    ),
}


def _say(text: str = "") -> None:
    print(text, flush=True)


def _crawl(config_dir: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hlidka", "crawl", "--config", str(config_dir)],
                            capture_output=True, text=True, timeout=300)
    for line in result.stdout.splitlines():
        _say(f"    {line}")
    if result.returncode != 0:
        _say(result.stderr[-3000:])
        raise RuntimeError("the crawl failed (its log is above)")


def _show(messages: list[ReceivedMessage]) -> None:
    for message in messages:
        _say(f"  ✉ {message.subject}")
        body = (message.text or "").strip().splitlines()
        for line in body[:6]:
            _say(f"      {line}")
        _say()


def _wait_quietly(sink: MailSink, expected_at_least: int, settle: float = 1.0) -> list[ReceivedMessage]:
    """Wait for the expected messages, then a moment more so a stray extra one would show."""
    sink.wait_for(expected_at_least, timeout=30)
    time.sleep(settle)
    return sink.messages


def run_demo() -> int:
    started = time.monotonic()
    with FixtureWeb() as web, MailSink() as sink, tempfile.TemporaryDirectory(prefix="hlidka-demo-") as tmp:
        config_dir = write_fixture_config(Path(tmp) / "config", web.base_url, smtp_port=sink.port)
        _say(f"Fixture news web at {web.base_url}/ (sites: {', '.join(web.sites)})")
        _say(f"SMTP server at 127.0.0.1:{sink.port}; configuration in {config_dir}\n")

        _say("1. First crawl of all sources:")
        _crawl(config_dir)
        first = _wait_quietly(sink, 1)
        _say(f"\n   {len(first)} alert e-mails arrived:\n")
        _show(first)

        url = web.publish("mocr", {**NEW_ARTICLE, "published": datetime.now(UTC)})
        _say(f"2. Published one new article: {url}\n   Second crawl:")
        _crawl(config_dir)
        every = _wait_quietly(sink, len(first) + 1)
        new = every[len(first):]
        _say(f"\n   {len(new)} new alert e-mail(s) — only the new article:\n")
        _show(new)
        _say(f"Demo finished in {time.monotonic() - started:.1f} s.")
        return 0 if len(new) == 1 and NEW_ARTICLE["title"] in new[0].subject else 1
