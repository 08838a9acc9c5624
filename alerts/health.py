"""Is a source still working? Judged from its recorded runs after each one; told once, and when it heals.

What users fear most is not a crawl that fails loudly but a source that goes
quiet: the site changes its layout, the listing still answers 200, and no
article link matches any more. So besides N failed runs in a row, a source is
broken when its listing has yielded no article link for several runs after it
used to yield some, or when every article page it fetched gave no text for
several runs after texts were extracted before.

Unchanged listings (HTTP 304) are read as "same as last time": after a
layout change the empty listing is usually revalidated, not re-read, and must
keep counting. A verdict is stored per source (``source_health``), so a
broken source raises one operations alert, not one per run or per restart,
and its recovery raises one notice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.ops import queue_notice
from config import Config
from config.schema import HealthSettings
from hlidka.db import CrawlRun, Database, utcnow
from hlidka.db.models import SourceHealth

logger = logging.getLogger("hlidka.health")

#: Runs read per verdict beyond the thresholds; an older streak is judged from its newest part.
_LOOKBACK = 50
_FINISHED = ("ok", "failed")


@dataclass(frozen=True)
class Verdict:
    broken: bool
    reason: str | None = None
    problem: str | None = None


HEALTHY = Verdict(False)


def _failed_streak(runs: Sequence[CrawlRun]) -> int:
    streak = 0
    for run in runs:
        if run.status != "failed":
            break
        streak += 1
    return streak


def _empty_listing_streak(runs: Sequence[CrawlRun]) -> tuple[int, bool]:
    """Runs since the listing last gave links, counting unchanged (304) runs after an empty one; and whether
    such a run with links was seen."""
    oldest_empty = None
    for index, run in enumerate(runs):
        if run.status != "ok" or run.article_links is None:
            continue
        if run.article_links > 0:
            return (0 if oldest_empty is None else oldest_empty + 1), True
        oldest_empty = index
    return (0 if oldest_empty is None else oldest_empty + 1), False


def _empty_extraction_streak(runs: Sequence[CrawlRun]) -> tuple[int, bool]:
    """Runs in a row whose fetched article pages all gave no text (runs that fetched none do not count)."""
    streak = 0
    for run in runs:
        if run.status != "ok":
            continue
        if run.articles_new > 0:
            return streak, True
        if (run.articles_rejected or 0) > 0:
            streak += 1
    return streak, False


def judge(session: Session, source_id: str, thresholds: HealthSettings) -> tuple[Verdict, CrawlRun | None]:
    """The verdict on the source's newest finished runs, and the newest run it was made on."""
    limit = max(thresholds.failed_runs, thresholds.empty_listing_runs, thresholds.empty_extraction_runs) + _LOOKBACK
    runs = list(session.scalars(
        select(CrawlRun).where(CrawlRun.source_id == source_id, CrawlRun.status.in_(_FINISHED))
        .order_by(CrawlRun.id.desc()).limit(limit)))
    if not runs:
        return HEALTHY, None
    newest = runs[0]
    failed = _failed_streak(runs)
    if failed >= thresholds.failed_runs:
        return Verdict(True, "failed_runs", f"its last {failed} runs failed; the last one: {newest.message or 'no details'}"), newest
    before = runs[-1].id
    empty, had_links = _empty_listing_streak(runs)
    if empty >= thresholds.empty_listing_runs and (had_links or _ever(session, source_id, before, CrawlRun.article_links > 0)):
        return Verdict(True, "empty_listing",
                       f"its listing has given no article links for {empty} runs, after it used to give some: "
                       "the site's layout or addresses may have changed (check link_scope and article_links)"), newest
    blank, had_texts = _empty_extraction_streak(runs)
    if blank >= thresholds.empty_extraction_runs and (had_texts or _ever(session, source_id, before, CrawlRun.articles_new > 0)):
        return Verdict(True, "empty_extraction",
                       f"every article page it fetched in {blank} runs gave no text, after texts were extracted "
                       "before: the article pages may have changed"), newest
    return HEALTHY, newest


def _ever(session: Session, source_id: str, before_id: int, condition: object) -> bool:
    return session.scalar(select(CrawlRun.id).where(CrawlRun.source_id == source_id, CrawlRun.id < before_id,
                                                    condition).limit(1)) is not None  # type: ignore[arg-type]


@dataclass(frozen=True)
class Change:
    source_id: str
    #: "broken" or "recovered"
    event: str
    verdict: Verdict


def check_source(database: Database, config: Config, source_id: str) -> Change | None:
    """Judge the source, store the verdict and queue an operations notice when it changed."""
    thresholds = config.settings.service.health
    now = utcnow()
    with database.session() as session, session.begin():
        verdict, newest = judge(session, source_id, thresholds)
        if newest is None:
            return None
        state = session.get(SourceHealth, source_id)
        if state is None:
            state = SourceHealth(source_id=source_id, state="ok")
            session.add(state)
        change = None
        if verdict.broken and state.state != "broken":
            state.state, state.since = "broken", now
            change = Change(source_id, "broken", verdict)
            queue_notice(session, config, f"source:{source_id}:broken:{newest.id}",
                         f"source {source_id} is broken", _broken_lines(config, source_id, verdict, newest))
        elif not verdict.broken and state.state == "broken":
            change = Change(source_id, "recovered", verdict)
            queue_notice(session, config, f"source:{source_id}:recovered:{newest.id}",
                         f"source {source_id} works again", _recovered_lines(config, source_id, state, newest, now))
            state.state, state.since = "ok", now
        elif verdict.broken and verdict.reason != state.reason:
            logger.warning("source %s is still broken, now because %s", source_id, verdict.problem,
                           extra={"source": source_id, "event": "source_still_broken"})
        state.reason, state.problem = verdict.reason, verdict.problem
        state.checked_run_id, state.updated_at = newest.id, now
    return change


def _source_lines(config: Config, source_id: str, what: str) -> list[str]:
    """The first line names the source and says what happened; the second where it is."""
    try:
        source = config.source(source_id)
    except KeyError:
        return [f"Source {source_id} {what}"]
    name = f" ({source.name})" if source.name else ""
    return [f"Source {source_id}{name} {what}", f"Address: {source.start_urls[0]}"]


def _broken_lines(config: Config, source_id: str, verdict: Verdict, newest: CrawlRun) -> str:
    return "\n".join([
        *_source_lines(config, source_id, f"looks broken: {verdict.problem}."),
        f"Last run: {_when(newest.started_at)}, {newest.status}, {newest.pages} pages, "
        f"{_links(newest)}, {newest.articles_new} new articles.",
        f"Try a fix with: hlidka crawl --source {source_id}",
        "You will get one notice when it works again.",
    ])


def _recovered_lines(config: Config, source_id: str, state: SourceHealth, newest: CrawlRun, now: datetime) -> str:
    since = state.since or newest.started_at
    return "\n".join([
        *_source_lines(config, source_id, f"works again after {_ago(now - since)} "
                                          f"(it was broken because {state.problem})."),
        f"Last run: {_when(newest.started_at)}, {newest.pages} pages, {_links(newest)}, "
        f"{newest.articles_new} new articles.",
    ])


def _links(run: CrawlRun) -> str:
    return "listing unchanged" if run.article_links is None else f"{run.article_links} article links"


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
