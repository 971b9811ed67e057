"""Dates: ages and day counts from ISO dates."""

from __future__ import annotations

import datetime as dt
from typing import Any


def as_date(value: Any) -> dt.date | None:
    """A date from a date, datetime or ISO text (``YYYY-MM-DD``, or a datetime whose date is taken)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def age_in_years(birth_date: Any, on_date: Any) -> int | None:
    """Completed years on ``on_date`` (a 29 February birthday counts on 1 March in other years)."""
    born, on = as_date(birth_date), as_date(on_date)
    if born is None or on is None or on < born:
        return None
    years = on.year - born.year
    if (on.month, on.day) < (born.month, born.day):
        years -= 1
    return years


def days_between(start: Any, end: Any) -> int | None:
    """Whole days from ``start`` to ``end`` (negative when end is earlier)."""
    first, last = as_date(start), as_date(end)
    if first is None or last is None:
        return None
    return (last - first).days
