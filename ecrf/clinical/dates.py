"""Dates: ages and day counts from dates or ISO 8601 text."""

from __future__ import annotations

import datetime as dt
from typing import Any


def as_date(value: Any) -> dt.date | None:
    """A date from a date, a datetime (its date part) or ISO text (``YYYY-MM-DD`` or an ISO datetime), else None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text).date()
    except ValueError:
        return None


def age_in_years(birth_date: Any, on_date: Any) -> int | None:
    """Completed years of age on ``on_date``.

    A 29 February birthday is reached on 1 March in common years. Missing or
    unparseable dates, or ``on_date`` before birth → None.
    """
    born, on = as_date(birth_date), as_date(on_date)
    if born is None or on is None or on < born:
        return None
    before_birthday = (on.month, on.day) < (born.month, born.day)
    return on.year - born.year - before_birthday


def days_between(start: Any, end: Any) -> int | None:
    """Whole days ``end`` − ``start`` (negative when end is earlier); missing or unparseable dates → None."""
    first, last = as_date(start), as_date(end)
    if first is None or last is None:
        return None
    return (last - first).days
