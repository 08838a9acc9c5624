"""HTTP validators kept between runs, and the rule for when a run may keep them.

A 304 for a listing means "nothing new here since last time" only if last
time every article that listing pointed to was actually dealt with. So the
validators fetched during a run are grouped in a :class:`Chain` (the pages
reached from one start URL, or one re-checked article) and written at the
end of the run only for chains in which nothing failed: an article that timed
out, a listing page that errored or a run cut short by ``max_articles`` leaves
the old validators in place, and the next revisit reads the listing again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select

from hlidka.db import Database, utcnow
from hlidka.db.chunks import chunks
from hlidka.db.models import HttpValidator


@dataclass
class Chain:
    """Pages whose validators stand or fall together; ``failed`` is set by whatever went wrong."""

    failed: bool = False


@dataclass
class Validators:
    etag: str | None
    last_modified: str | None
    #: For a sitemap index: the sitemaps it listed (see :class:`~hlidka.db.models.HttpValidator`).
    follow: list[str] | None = None
    chain: Chain = field(default_factory=Chain, compare=False)

    @property
    def usable(self) -> bool:
        return bool(self.etag or self.last_modified)


def load_validators(database: Database, source_id: str) -> dict[str, Validators]:
    with database.session() as session:
        rows = session.scalars(select(HttpValidator).where(HttpValidator.source_id == source_id))
        return {row.url: Validators(row.etag, row.last_modified, row.follow) for row in rows}


def save_validators(database: Database, source_id: str, fresh: Mapping[str, Validators]) -> None:
    """Insert or update one row per URL, in one transaction."""
    urls = list(fresh)
    if not urls:
        return
    now = utcnow()
    with database.session() as session, session.begin():
        existing: dict[str, HttpValidator] = {}
        for chunk in chunks(urls):
            existing.update((row.url, row) for row in session.scalars(select(HttpValidator).where(HttpValidator.url.in_(chunk))))
        for url, validators in fresh.items():
            row = existing.get(url)
            if row is None:
                row = HttpValidator(url=url, source_id=source_id)
                session.add(row)
            row.etag, row.last_modified, row.follow, row.checked_at = (
                validators.etag, validators.last_modified, validators.follow, now)


def settled(fresh: Mapping[str, Validators]) -> dict[str, Validators]:
    """The validators whose chain finished without a failure."""
    return {url: v for url, v in fresh.items() if not v.chain.failed}
