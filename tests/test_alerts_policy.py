"""Delivery rules without a database: crontab schedules, quiet hours, and which alerts make which messages."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts.policy import DueAlert, plan_channel
from alerts.schedule import QuietWindow, crontab, next_slot, parse_clock_time
from config.loader import ConfigError, load_settings
from config.schema import Channel, Settings, Watchlist

PRAGUE = ZoneInfo("Europe/Prague")
WEEKDAYS_7_16 = "0 7,16 * * 1-5"


def prague(*args: int) -> datetime:
    return datetime(*args, tzinfo=PRAGUE)


# --------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("after, expected", [
    (prague(2025, 3, 3, 6, 0), prague(2025, 3, 3, 7, 0)),     # Monday morning → 07:00
    (prague(2025, 3, 3, 7, 0), prague(2025, 3, 3, 7, 0)),     # exactly at the slot: that slot
    (prague(2025, 3, 3, 7, 0, 1), prague(2025, 3, 3, 16, 0)),
    (prague(2025, 3, 7, 16, 5), prague(2025, 3, 10, 7, 0)),   # Friday after 16:00 → Monday, not Saturday
    (prague(2025, 3, 8, 12, 0), prague(2025, 3, 10, 7, 0)),   # Saturday → Monday
])
def test_weekdays_are_read_as_crontab_reads_them(after: datetime, expected: datetime) -> None:
    assert next_slot(WEEKDAYS_7_16, "Europe/Prague", after) == expected


@pytest.mark.parametrize("weekday, days", [
    ("0", {6}), ("7", {6}), ("sun", {6}), ("1", {0}), ("mon-wed", {0, 1, 2}), ("5-7", {4, 5, 6}),
    ("*/2", {6, 1, 3, 5}), ("1,3-4", {0, 2, 3}), ("1-5/2", {0, 2, 4}),
])
def test_weekday_numbers_names_ranges_and_steps(weekday: str, days: set[int]) -> None:
    """Python's weekday(): Monday 0 … Sunday 6; crontab's: Sunday 0 (or 7), Monday 1."""
    monday = prague(2025, 3, 3, 0, 0)
    fired = {next_slot(f"0 9 * * {weekday}", "Europe/Prague", monday + timedelta(days=n)).weekday()
             for n in range(14)}
    assert fired == days


def test_slot_keeps_local_time_across_a_dst_change() -> None:
    """Clocks go forward on 30 March 2025: 07:00 in Prague is 06:00 UTC before, 05:00 UTC after."""
    assert next_slot("0 7 * * *", "Europe/Prague", prague(2025, 3, 29, 8, 0)).astimezone(UTC) == (
        datetime(2025, 3, 30, 5, 0, tzinfo=UTC))
    assert next_slot("0 7 * * *", "Europe/Prague", prague(2025, 3, 28, 8, 0)).astimezone(UTC) == (
        datetime(2025, 3, 29, 6, 0, tzinfo=UTC))


@pytest.mark.parametrize("expression, message", [
    ("0 7 * *", "5 fields"),
    ("0 7 1 * 1", "not both"),
    ("0 25 * * *", "25"),
    ("0 7 * * 8", "not 0-7"),
    ("0 7 * * fri-mon", "backwards"),
])
def test_bad_schedules_are_explained(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        crontab(expression, "UTC")


def test_clock_times_as_yaml_gives_them() -> None:
    assert parse_clock_time("22:00") == time(22, 0)
    assert parse_clock_time("6:30") == time(6, 30)
    assert parse_clock_time(22 * 60) == time(22, 0), "YAML 1.1 reads an unquoted 22:00 as 1320"
    with pytest.raises(ValueError):
        parse_clock_time("25:00")


def test_quiet_window_across_midnight() -> None:
    window = QuietWindow(time(22, 0), time(7, 0), "Europe/Prague")
    assert window.contains(prague(2025, 3, 3, 23, 0)) and window.contains(prague(2025, 3, 4, 6, 59))
    assert not window.contains(prague(2025, 3, 4, 7, 0)) and not window.contains(prague(2025, 3, 3, 21, 59))
    assert window.last_end(prague(2025, 3, 4, 9, 0)) == prague(2025, 3, 4, 7, 0)
    assert window.last_end(prague(2025, 3, 4, 6, 0)) == prague(2025, 3, 3, 7, 0)


def test_settings_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "channels:\n"
        "  mail:\n"
        "    url: mailto://localhost\n"
        "    delivery:\n"
        "      mode: digest\n"
        "      schedule: '0 7 * * 9'\n"
        "    timezone: Europe/Praha\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    issues = {(issue.line, issue.field) for issue in caught.value.issues}
    text = str(caught.value)
    assert (4, "channels.mail.delivery") in issues and "'9' is not 0-7" in text
    assert (7, "channels.mail.timezone") in issues and "unknown time zone 'Europe/Praha'" in text

    path.write_text("channels:\n  mail:\n    url: mailto://localhost\nalerts:\n  operations_channels: [ops]\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    [issue] = caught.value.issues
    assert (issue.path, issue.line, issue.field) == (path, 4, "alerts")
    assert "operations_channels: unknown channel(s) ops (defined: mail)" in issue.message


# --------------------------------------------------------------------------- planning

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # a Monday, 13:00 in Prague


def due(n: int, minutes_ago: float, watchlist: str = "korea", kind: str = "match") -> DueAlert:
    return DueAlert(n, "chat", watchlist, kind, NOW - timedelta(minutes=minutes_ago))


def plan(channel: dict[str, Any], alerts: list[DueAlert], recent: int = 0, now: datetime = NOW,
         watchlist_delivery: dict[str, Any] | None = None) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    settings = Settings(alerts={"timezone": "Europe/Prague"})
    korea = Watchlist.model_validate({"id": "korea", "any": ["Korea"],
                                      "alert": {"delivery": watchlist_delivery} if watchlist_delivery else {}})
    result = plan_channel("chat", Channel.model_validate({"url": "json://127.0.0.1/", **channel}), settings,
                          {"korea": korea}, alerts, now, recent)
    return [(m.reason, m.alert_ids) for m in result.messages], result.held


def test_immediate_alerts_go_one_message_each_oldest_first() -> None:
    assert plan({}, [due(1, 1), due(2, 5), due(3, 3)]) == ([("alert", (2,)), ("alert", (3,)), ("alert", (1,))], 0)


def test_digest_waits_for_its_slot_then_takes_everything_due() -> None:
    digest = {"delivery": {"mode": "digest", "schedule": "0 7,16 * * 1-5"}}
    morning = [due(1, 60 * 4), due(2, 60 * 2)]  # 09:00 and 11:00 in Prague: the 16:00 digest
    assert plan(digest, morning) == ([], 2)
    at_four = NOW.replace(hour=15)  # 16:00 in Prague
    assert plan(digest, morning, now=at_four) == ([("digest", (1, 2))], 0)
    overnight = [due(3, 60 * 10)]  # 03:00 in Prague: the 07:00 digest is already due
    assert plan(digest, overnight + morning) == ([("digest", (3,))], 2)


def test_a_watchlist_can_ask_for_a_digest_on_an_immediate_channel() -> None:
    alerts = [due(1, 5), due(2, 5, watchlist="nato")]
    assert plan({}, alerts, watchlist_delivery={"mode": "digest", "schedule": "0 7 * * *"}) == (
        [("alert", (2,))], 1)


def test_quiet_hours_hold_everything_then_fold_what_waited() -> None:
    quiet = {"quiet_hours": {"start": "22:00", "end": "07:00"}}
    night = datetime(2025, 3, 3, 23, 30, tzinfo=UTC)  # 00:30 in Prague
    alerts = [DueAlert(1, "chat", "korea", "match", night - timedelta(hours=1)),
              DueAlert(2, "chat", "korea", "match", night)]
    assert plan(quiet, alerts, now=night) == ([], 2)
    morning = datetime(2025, 3, 4, 6, 5, tzinfo=UTC)  # 07:05 in Prague
    fresh = DueAlert(3, "chat", "korea", "match", morning - timedelta(minutes=1))
    assert plan(quiet, [*alerts, fresh], now=morning) == ([("quiet", (1, 2)), ("alert", (3,))], 0)
    assert plan(quiet, [alerts[0]], now=morning) == ([("alert", (1,))], 0), "one held alert stays a plain alert"


def test_rate_limit_folds_the_rest_of_a_burst_into_the_last_allowed_message() -> None:
    limited = {"rate_limit": {"messages": 3, "per": "10m"}}
    burst = [due(n, 10 - n) for n in range(1, 7)]
    assert plan(limited, burst, recent=1) == ([("alert", (1,)), ("burst", (2, 3, 4, 5, 6))], 0)
    assert plan(limited, burst, recent=2) == ([("burst", (1, 2, 3, 4, 5, 6))], 0)
    assert plan(limited, burst, recent=3) == ([], 6), "no message left: wait, drop nothing"
    assert plan(limited, burst[:2], recent=1) == ([("alert", (1,)), ("alert", (2,))], 0)


def test_operations_alerts_are_never_held_or_folded_but_count_towards_the_limit() -> None:
    channel = {"rate_limit": {"messages": 2, "per": "1h"}, "quiet_hours": {"start": "00:00", "end": "23:59"},
               "delivery": {"mode": "digest", "schedule": "0 7 * * *"}}
    ops = [due(1, 1, watchlist="", kind="operations"), due(2, 1, watchlist="", kind="operations")]
    assert plan(channel, [*ops, due(3, 1)], recent=2) == ([("operations", (1,)), ("operations", (2,))], 1)
