"""Messages sized for their channel: the limits apprise knows per service, and what gives way when a message is long."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apprise import NotifyFormat

from alerts.channels import body_shape, resolve_channel
from alerts.compose import compose_fold, compose_single
from alerts.render import AlertContext, TermCount
from support.alerts_helpers import CZECH_TEXT, CZECH_TITLE, make_config

TELEGRAM = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234567/"
DISCORD = "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js/"


def context(n: int = 0, other_urls: int = 1) -> AlertContext:
    snippet = CZECH_TEXT[:200] + "…"
    start = snippet.index("Korejská republika")
    return AlertContext(
        watchlist_id="korea", watchlist_name="Korea", title=f"{CZECH_TITLE} {n}", url=f"https://www.mocr.cz/{n}",
        source_id="mocr", source_name="MO ČR", published=datetime(2025, 3, 3, 8, 0, tzinfo=UTC), language="cs",
        score=4.0, terms=(TermCount("Korejská republika", 1),), snippet=snippet, spans=[(start, start + 18)],
        other_urls=[f"https://kopie{k}.example.org/zpravy/korejska-republika-{n}" for k in range(other_urls)],
    )


@pytest.mark.parametrize("url, limit, title_in_body, body_format", [
    (TELEGRAM, int(4096 * 0.85), True, NotifyFormat.MARKDOWN),
    (DISCORD, int(2000 * 0.85), False, NotifyFormat.MARKDOWN),
    ("mailto://localhost?smtp=127.0.0.1&from=a@example.org&to=b@example.org", None, False, NotifyFormat.HTML),
    ("mqtt://127.0.0.1/hlidka/alerts?qos=1", None, True, NotifyFormat.TEXT),
])
def test_body_shape_follows_what_apprise_knows_of_the_service(tmp_path: Path, url: str, limit: int | None,
                                                             title_in_body: bool, body_format: NotifyFormat) -> None:
    shape = body_shape(resolve_channel(make_config(tmp_path, {"c": url}), "c"))
    assert (shape.limit, shape.title_in_body, shape.format) == (limit, title_in_body, body_format)


def test_a_long_single_alert_loses_other_addresses_first_then_its_snippet(tmp_path: Path) -> None:
    shape = body_shape(resolve_channel(make_config(tmp_path, {"c": DISCORD}), "c"))
    assert shape.limit is not None

    [piece] = compose_single(7, context(other_urls=40), shape, None)
    assert piece.alert_ids == (7,) and shape.fits(piece.rendered)
    assert "- and 37 more" in piece.rendered.markdown and "kopie2.example.org" in piece.rendered.markdown
    assert "Korejská republika" in piece.rendered.markdown and "https://www.mocr.cz/0" in piece.rendered.markdown

    huge = replace(context(other_urls=0), snippet="slovo " * 400, spans=[])
    [piece] = compose_single(8, huge, shape, None)
    assert shape.fits(piece.rendered) and "slovo" not in piece.rendered.markdown
    assert CZECH_TITLE in piece.rendered.markdown, "title, link and terms always stay"


def test_a_fold_is_split_into_parts_that_fit_and_cover_every_alert_once(tmp_path: Path) -> None:
    shape = body_shape(resolve_channel(make_config(tmp_path, {"c": TELEGRAM}), "c"))
    nato = [(100 + n, replace(context(100 + n), watchlist_id="nato", watchlist_name="NATO")) for n in range(5)]
    items = [(n, context(n)) for n in range(20)] + nato

    pieces = compose_fold("burst", items, "Folded.", shape, None)

    assert len(pieces) > 1 and all(shape.fits(p.rendered) for p in pieces)
    assert sorted(i for p in pieces for i in p.alert_ids) == sorted(i for i, _ in items)
    assert [p.rendered.title.endswith(f"({n}/{len(pieces)})") for n, p in enumerate(pieces, start=1)] == (
        [True] * len(pieces))
    assert [i for p in pieces for i in p.alert_ids][-5:] == [100, 101, 102, 103, 104], "watchlists stay together"
    email = compose_fold("burst", items, "Folded.", body_shape(resolve_channel(
        make_config(tmp_path, {"e": "mailto://localhost?smtp=127.0.0.1&from=a@example.org&to=b@example.org"}), "e")),
        None)
    assert len(email) == 1, "email has no limit worth splitting for"
