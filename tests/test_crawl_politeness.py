"""A crawl stays welcome and bounded: robots.txt, a descriptive User-Agent, Retry-After, backoff,
timeouts, a size limit, no redirect off the site, and a request budget that stops an endless calendar.

Two crawls of the lab's trap listing and calendar: the first meets every trap; the second shows
which failures are settled for good (too large, redirected away, forbidden) and which are left
for the next run (overloaded, too slow) — and that the listing is read again because of them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from hlidka.db import Article, CrawlRun, KnownUrl, open_database
from hlidka.fixtureweb import LAB_HOSTS, FixtureWeb, Hit, lab_sources, write_fixture_config
from hlidka.fixtureweb.lab import RETRY_AFTER_SHORT

CONTACT = "https://example.org/hlidka-contact"
RETRIES, BACKOFF, TIMEOUT, MAX_BYTES = 1, 0.4, 2.0, 1024 * 1024
TRAPS = "/lab/traps/clanek/"


def trap(hits: list[Hit], kind: str) -> list[Hit]:
    return [h for h in hits if h.path.startswith(TRAPS + kind)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with FixtureWeb() as web:
        sources = [s for s in lab_sources(web.base_url) if s["id"] in ("lab-traps", "lab-calendar")]
        crawl_settings = {
            "resolve": {h: "127.0.0.1" for h in LAB_HOSTS}, "contact_url": CONTACT,
            "download_timeout": f"{TIMEOUT}s", "retry_times": RETRIES, "retry_backoff": f"{BACKOFF}s",
            "max_retry_after": "30s", "max_response_bytes": MAX_BYTES,
        }
        config_dir = write_fixture_config(tmp_path_factory.mktemp("politeness") / "config", web.base_url,
                                          sources=sources, crawl=crawl_settings)
        record: dict = {"web": web}
        for run in ("first", "second"):
            start = len(web.hits)
            result = subprocess.run([sys.executable, "-m", "hlidka", "crawl", "--no-send", "--config", str(config_dir)],
                                    capture_output=True, text=True, timeout=240)
            assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-4000:]}"
            web.wait_idle()
            record[run] = web.hits[start:]
        database = open_database(f"sqlite:///{config_dir / 'hlidka.db'}")
        with database.session() as session:
            record["stored"] = {a.canonical_url.rsplit("/", 1)[1] for a in session.scalars(select(Article))}
            record["rejected"] = {k.canonical_url.rsplit("/", 1)[1]: k.reason
                                  for k in session.scalars(select(KnownUrl).where(KnownUrl.reason.is_not(None)))}
            record["runs"] = [(r.source_id, r.status, r.message) for r in session.scalars(select(CrawlRun))]
        database.dispose()
        yield record


def test_user_agent_names_a_contact_and_robots_txt_is_obeyed(runs: dict) -> None:
    hits = runs["first"]
    assert all(CONTACT in h.user_agent and h.user_agent.startswith("Hlidka/") for h in hits)
    assert hits[0].path == "/robots.txt"
    assert not any(h.path.startswith("/private/") for h in runs["first"] + runs["second"])
    assert runs["rejected"]["interni-sdeleni"] == "not fetched: Forbidden by robots.txt"


def test_429_is_retried_after_retry_after_and_then_stored(runs: dict) -> None:
    first, retry = trap(runs["first"], "throttled")
    assert (first.status, retry.status) == (429, 200)
    assert retry.at - first.at >= RETRY_AFTER_SHORT * 0.95
    assert "throttled-601" in runs["stored"] and "ok-600" in runs["stored"]


def test_retry_after_beyond_the_limit_is_left_for_the_next_run(runs: dict) -> None:
    assert [h.status for h in trap(runs["first"], "overloaded")] == [503], "not retried within the run"
    assert [h.status for h in trap(runs["second"], "overloaded")] == [503], "tried again on the next run"
    assert "overloaded-602" not in runs["rejected"]


def test_timeouts_are_retried_with_backoff_then_given_up(runs: dict) -> None:
    slow = trap(runs["first"], "slow")
    assert len(slow) == RETRIES + 1
    # The server logs each answer after the same delay, so the gap is the client's timeout plus backoff
    # (jittered down to 0.8×), less up to ~0.1 s: the first request's timeout also ran while its
    # connection was being opened, before the server saw it. Without a backoff the gap would be ~2.0 s.
    assert slow[1].at - slow[0].at >= TIMEOUT + BACKOFF * 0.8 - 0.1
    assert "slow-603" not in runs["stored"] and "slow-603" not in runs["rejected"]
    assert len(trap(runs["second"], "slow")) == RETRIES + 1


def test_oversized_page_is_refused_once_and_remembered(runs: dict) -> None:
    # Refused on its Content-Length, before the body; a retry only if a loaded machine timed out first.
    assert 1 <= len(trap(runs["first"], "huge")) <= RETRIES + 1 and not trap(runs["second"], "huge")
    assert runs["rejected"]["huge-604"] == f"response larger than max_response_bytes ({MAX_BYTES} bytes)"


def test_redirect_to_a_foreign_host_is_not_followed(runs: dict) -> None:
    assert [h.status for h in trap(runs["first"], "moved")] == [301] and not trap(runs["second"], "moved")
    assert not any(h.path.startswith("/lab/elsewhere/") for h in runs["first"] + runs["second"])
    assert runs["rejected"]["moved-605"].startswith("redirects off the source's hosts, to http://foreign.example:")


def test_listing_with_unsettled_articles_is_read_again_but_stored_ones_are_not(runs: dict) -> None:
    listing = [h for h in runs["second"] if h.path == "/lab/traps/"]
    assert [h.status for h in listing] == [200], "no 304: the overloaded and slow articles are still owed"
    assert not trap(runs["second"], "ok") and not trap(runs["second"], "throttled")


def test_request_budget_stops_an_endless_calendar(runs: dict) -> None:
    calendar_source = next(s for s in lab_sources(runs["web"].base_url) if s["id"] == "lab-calendar")
    for run in ("first", "second"):
        calendar = [h for h in runs[run] if h.path.startswith("/lab/calendar/")]
        assert calendar_source["max_requests"] - 2 <= len(calendar) < calendar_source["max_requests"]
    messages = [m for source, _, m in runs["runs"] if source == "lab-calendar"]
    assert len(messages) == 2 and all(m and "request budget" in m for m in messages)
    assert all(status == "ok" for _, status, _ in runs["runs"])
