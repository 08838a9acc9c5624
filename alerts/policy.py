"""Which due alerts go out now, and how many messages they make.

The outbox holds one row per (story, watchlist, channel); what a channel
*receives* is decided here, fresh at every dispatcher run from the current
configuration, so an edit of a schedule or of quiet hours applies to alerts
already queued:

* ``immediate`` alerts go one message each;
* ``digest`` alerts wait for the first run of their schedule at or after the
  moment they were queued, and everything due for one schedule goes in one
  message;
* during quiet hours the channel gets nothing; what waited through them goes
  in one message when they end;
* over the rate limit, the rest of the burst is folded into the last message
  the limit allows, or waits until the limit allows one — nothing is dropped;
* operations alerts always go at once, one each (they still count towards the
  rate limit).

Planning is pure: rows and the clock in, messages out. Claiming and sending
happen in :mod:`alerts.dispatch`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from alerts.schedule import QuietWindow, next_slot
from config.schema import Channel, Delivery, Settings, Watchlist

MessageReason = Literal["alert", "digest", "quiet", "burst", "operations"]


@dataclass(frozen=True)
class DueAlert:
    """The columns of a due outbox row that planning needs."""

    id: int
    channel: str
    watchlist_id: str | None
    kind: str
    created_at: datetime


@dataclass(frozen=True)
class PlannedMessage:
    channel: str
    reason: MessageReason
    alert_ids: tuple[int, ...]
    #: Why these alerts travel together, shown at the top of the message.
    note: str = ""
    #: When its oldest alert was queued: messages go out oldest first.
    oldest: datetime = field(compare=False, default=datetime.min)


@dataclass
class ChannelPlan:
    messages: list[PlannedMessage] = field(default_factory=list)
    #: Due alerts kept back by a digest schedule, quiet hours or the rate limit.
    held: int = 0


def effective_delivery(channel: Channel, watchlist: Watchlist | None) -> Delivery:
    """A watchlist's own delivery wins over its channel's."""
    if watchlist is not None and watchlist.alert.delivery is not None:
        return watchlist.alert.delivery
    return channel.delivery


def channel_zone(channel: Channel, settings: Settings) -> str:
    return channel.timezone or settings.alerts.timezone


def _fold(channel: str, reason: MessageReason, alerts: Sequence[DueAlert], note: str) -> PlannedMessage:
    ordered = sorted(alerts, key=lambda a: (a.created_at, a.id))
    return PlannedMessage(channel, reason, tuple(a.id for a in ordered), note, ordered[0].created_at)


def _single(channel: str, reason: MessageReason, alert: DueAlert) -> PlannedMessage:
    return PlannedMessage(channel, reason, (alert.id,), "", alert.created_at)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def plan_channel(name: str, channel: Channel, settings: Settings, watchlists: Mapping[str, Watchlist],
                 due: Sequence[DueAlert], now: datetime, recent_messages: int) -> ChannelPlan:
    """The messages ``name`` gets now from its ``due`` alerts; ``recent_messages`` sent within the rate window."""
    plan = ChannelPlan()
    operations = [a for a in due if a.kind == "operations"]
    matches = [a for a in due if a.kind != "operations"]
    plan.messages.extend(_single(name, "operations", a) for a in operations)

    zone = channel_zone(channel, settings)
    quiet = channel.quiet_hours and QuietWindow(channel.quiet_hours.start, channel.quiet_hours.end, zone)
    if quiet and quiet.contains(now):
        plan.held += len(matches)
        return plan
    waited_until = quiet.last_end(now) if quiet else None

    digests: dict[str, list[DueAlert]] = {}
    held_back: list[DueAlert] = []
    messages: list[PlannedMessage] = []
    for alert in matches:
        delivery = effective_delivery(channel, watchlists.get(alert.watchlist_id or ""))
        if delivery.mode == "digest" and delivery.schedule:
            if next_slot(delivery.schedule, zone, alert.created_at) > now:
                plan.held += 1
            else:
                digests.setdefault(delivery.schedule, []).append(alert)
        elif waited_until is not None and alert.created_at < waited_until:
            held_back.append(alert)
        else:
            messages.append(_single(name, "alert", alert))
    for schedule, alerts in digests.items():
        messages.append(_fold(name, "digest", alerts, f"Digest (schedule {schedule}, {zone})."))
    if held_back and channel.quiet_hours:
        hours = channel.quiet_hours
        note = f"Held during quiet hours {hours.start:%H:%M}–{hours.end:%H:%M} ({zone})."
        messages.append(_fold(name, "quiet", held_back, note) if len(held_back) > 1
                        else _single(name, "alert", held_back[0]))
    messages.sort(key=lambda m: (m.oldest, m.alert_ids))

    limit = channel.rate_limit
    if limit is not None:
        budget = limit.messages - recent_messages - len(operations)
        if len(messages) > budget:
            if budget <= 0:
                plan.held += sum(len(m.alert_ids) for m in messages)
                messages = []
            else:
                keep, rest = messages[:budget - 1], messages[budget - 1:]
                note = (f"More than {limit.messages} messages in {_duration(limit.per.total_seconds())} "
                        f"for this channel: the rest are folded into this one.")
                folded_ids = {alert_id for message in rest for alert_id in message.alert_ids}
                messages = [*keep, _fold(name, "burst", [a for a in matches if a.id in folded_ids], note)]
    plan.messages.extend(messages)
    return plan
