"""Planned message → rendered messages that fit their channel.

Telegram takes 4096 characters and Discord 2000, so a digest of thirty
articles cannot be one chat message; sending it anyway gets it refused, and
letting apprise cut it drops articles without a word. Instead the alerts are
split into as few messages as fit ("(1/3)", "(2/3)"…), each sent and marked
on its own, and a single alert too long for its channel loses its list of
other addresses, then its snippet — never its title, link or terms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from alerts.channels import BodyShape
from alerts.render import (
    AlertContext,
    DigestContext,
    FoldReason,
    RenderedAlert,
    group_by_watchlist,
    render_alert,
    render_digest,
)

#: Other addresses kept when a single alert has to shrink.
_SHRUNK_URLS = 3


@dataclass(frozen=True)
class Piece:
    """One message to send, and the outbox rows it delivers."""

    rendered: RenderedAlert
    alert_ids: tuple[int, ...]


def _shrunk(ctx: AlertContext) -> list[AlertContext]:
    """The alert as it is, then smaller and smaller versions of it."""
    hidden = len(ctx.other_urls) + ctx.more_urls
    versions = [ctx]
    if len(ctx.other_urls) > _SHRUNK_URLS:
        versions.append(replace(ctx, other_urls=tuple(ctx.other_urls[:_SHRUNK_URLS]),
                                more_urls=hidden - _SHRUNK_URLS))
    if ctx.other_urls:
        versions.append(replace(ctx, other_urls=(), more_urls=hidden))
    versions.append(replace(versions[-1], snippet="", spans=()))
    return versions


def _smallest_that_fits(ctx: AlertContext, render: Callable[[AlertContext], RenderedAlert],
                        shape: BodyShape) -> tuple[AlertContext, RenderedAlert]:
    rendered = None
    for version in _shrunk(ctx):
        rendered = render(version)
        if shape.fits(rendered):
            return version, rendered
    assert rendered is not None
    return version, rendered


def compose_single(alert_id: int, ctx: AlertContext, shape: BodyShape, templates: Path | None) -> list[Piece]:
    _ctx, rendered = _smallest_that_fits(ctx, lambda c: render_alert(c, templates), shape)
    return [Piece(rendered, (alert_id,))]


def compose_fold(reason: FoldReason, items: Sequence[tuple[int, AlertContext]], note: str, shape: BodyShape,
                 templates: Path | None) -> list[Piece]:
    """A digest (or fold) of ``items`` in as few messages as the channel takes, grouped by watchlist."""
    order = {group.label: n for n, group in enumerate(group_by_watchlist(ctx for _id, ctx in items))}
    items = sorted(items, key=lambda item: order[item[1].label])

    def render(chunk: Sequence[tuple[int, AlertContext]], part: int = 1, parts: int = 1) -> RenderedAlert:
        return render_digest(DigestContext(reason, group_by_watchlist(c for _id, c in chunk), note, part, parts),
                             templates)

    chunks: list[list[tuple[int, AlertContext]]] = []
    start = 0
    while start < len(items):
        take = len(items) - start
        rendered = render(items[start:start + take])
        while take > 1 and not shape.fits(rendered):
            assert shape.limit is not None
            # Shrink in proportion to the overshoot first, then one at a time.
            take = max(1, min(take - 1, take * shape.limit // shape.size(rendered)))
            rendered = render(items[start:start + take])
        chunk = items[start:start + take]
        if take == 1 and not shape.fits(rendered):
            alert_id, ctx = chunk[0]
            smaller, _ = _smallest_that_fits(ctx, lambda c: render([(alert_id, c)]), shape)
            chunk = [(alert_id, smaller)]
        chunks.append(chunk)
        start += take
    return [Piece(render(chunk, n, len(chunks)), tuple(alert_id for alert_id, _ in chunk))
            for n, chunk in enumerate(chunks, start=1)]
