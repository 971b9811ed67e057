"""The SAE clock (pure): when a report is due, whether it is overdue, how long is left, against a given ``now``.

The initial report is due 24 hours after the site became aware of the event (ICH E2A: expedited reports
start from the first knowledge of the event by the sponsor's site); a follow-up is due when the safety
reviewer asked for it. Submitted, acknowledged and closed reports owe nothing.
"""

from __future__ import annotations

import datetime as dt

INITIAL_HOURS = 24
FOLLOWUP_HOURS = 24 * 7  # a requested follow-up, unless the reviewer names its due time
OWING = ("draft", "followup_requested")


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as an aware UTC time (the database hands back naive UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def initial_due(awareness: dt.datetime) -> dt.datetime:
    """When the initial report is due: 24 hours after the site's awareness."""
    return aware(awareness) + dt.timedelta(hours=INITIAL_HOURS)


def followup_due(requested: dt.datetime) -> dt.datetime:
    """When a requested follow-up is due if the reviewer named no time."""
    return aware(requested) + dt.timedelta(hours=FOLLOWUP_HOURS)


def due(state: str, awareness: dt.datetime | None, followup: dt.datetime | None) -> dt.datetime | None:
    """What the report owes next and by when: None when it owes nothing in ``state``."""
    if state == "draft" and awareness is not None:
        return initial_due(awareness)
    if state == "followup_requested":
        return aware(followup)
    return None


def overdue(due_at: dt.datetime | None, now: dt.datetime) -> bool:
    """True when something is due and ``now`` is past it."""
    return due_at is not None and aware(now) > aware(due_at)


def remaining(due_at: dt.datetime | None, now: dt.datetime) -> dt.timedelta | None:
    """Time left until due (negative: overdue by that much); None when nothing is due."""
    return None if due_at is None else aware(due_at) - aware(now)


def hours_minutes(delta: dt.timedelta) -> tuple[int, int]:
    """A span as whole hours and minutes, of its absolute value (rounded down to the minute)."""
    minutes = int(abs(delta.total_seconds()) // 60)
    return minutes // 60, minutes % 60
