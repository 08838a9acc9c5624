"""When a channel may speak: digest schedules in crontab syntax, quiet hours, time zones.

Analysts write schedules the way crontab(5) reads them — ``0 7,16 * * 1-5``
is 07:00 and 16:00 on weekdays — so this module translates them for
APScheduler 3, whose cron trigger numbers weekdays from Monday (its ``1-5``
would be Tuesday to Saturday) and requires both day fields to match where
crontab accepts either. Weekdays are therefore rewritten as names, and an
expression that restricts both the day of month and the day of week is
refused instead of being silently read the other way.

Nothing here imports the configuration, so the config schema can use these
checks while validating.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_WEEKDAY_PART = re.compile(r"^(?:(\*)|(\w+)(?:-(\w+))?)(?:/(\d+))?$")


def zone(name: str) -> tzinfo:
    """The IANA zone ``name`` (``Europe/Prague``); ValueError names the bad value."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Prague or UTC)") from None


def _weekday_number(token: str) -> int:
    lowered = token.lower()[:3]
    if lowered in _WEEKDAY_NAMES:
        return _WEEKDAY_NAMES.index(lowered)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    raise ValueError(f"day of week {token!r} is not 0-7 or a name such as mon")


def _weekdays(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) as APScheduler weekday names."""
    days: set[int] = set()
    for part in field.split(","):
        m = _WEEKDAY_PART.match(part)
        if m is None:
            raise ValueError(f"day of week {part!r} is not understood")
        every, first, last, step = m.groups()
        if every:
            start, end = 0, 6
        else:
            start = _weekday_number(first)
            end = _weekday_number(last) if last else start
            if last and last.isdigit() and int(last) == 7:
                end = 7  # "5-7" is Friday to Sunday
        if step and not (every or last):
            raise ValueError(f"day of week {part!r}: a step needs a range or *")
        if end < start:
            raise ValueError(f"day of week {part!r}: the range runs backwards")
        days.update(day % 7 for day in range(start, end + 1, int(step or 1)))
    # APScheduler's week starts on Monday; the order only matters for readability.
    return ",".join(_WEEKDAY_NAMES[day] for day in sorted(days, key=lambda d: (d - 1) % 7))


@lru_cache(maxsize=64)
def crontab(expression: str, timezone: str) -> CronTrigger:
    """A trigger that fires when crontab would; ValueError explains what is wrong with the expression."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"a schedule has 5 fields (minute hour day month weekday), got {len(fields)}: {expression!r}")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        raise ValueError("restrict the day of month or the day of week, not both")
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=_weekdays(weekday) if weekday != "*" else "*", timezone=zone(timezone))
    except ValueError as exc:
        raise ValueError(f"schedule {expression!r}: {exc}") from None


def next_slot(expression: str, timezone: str, after: datetime) -> datetime:
    """The first time the schedule fires at or after ``after`` (aware, in the schedule's zone)."""
    fire = crontab(expression, timezone).get_next_fire_time(None, after.astimezone(zone(timezone)))
    if fire is None:  # only for impossible dates such as 30 February, which APScheduler accepts
        raise ValueError(f"schedule {expression!r} never fires")
    return fire


def parse_clock_time(value: object) -> time:
    """``"22:00"`` or ``"7:30"``; also the integer YAML 1.1 makes of an unquoted ``22:00`` (22×60)."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)
        if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:
            return time(int(m.group(1)), int(m.group(2)))
    raise ValueError("expected a time of day such as \"22:00\" or \"06:30\"")


class QuietWindow:
    """A daily span of local time (``22:00``–``07:00`` may cross midnight) in which a channel stays silent."""

    def __init__(self, start: time, end: time, timezone: str):
        self.start, self.end = start, end
        self.zone = zone(timezone)

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def contains(self, moment: datetime) -> bool:
        now = self._local(moment).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def last_end(self, moment: datetime) -> datetime:
        """The most recent end of the window at or before ``moment``: alerts older than it waited through one."""
        local = self._local(moment)
        for days_back in range(0, 3):
            day = (local - timedelta(days=days_back)).date()
            candidate = datetime.combine(day, self.end, tzinfo=self.zone)
            # A wall time skipped by a DST change does not exist; zoneinfo maps it forward, which is fine here.
            if candidate <= local:
                return candidate
        raise AssertionError("a daily window ends at least once in two days")
