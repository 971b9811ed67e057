"""Visit windows: the day a scheduled visit is planned for and the days it may be done, counted from day 0."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from ecrf.clinical.dates import as_date


class VisitWindow(NamedTuple):
    planned: dt.date
    opens: dt.date
    closes: dt.date


def visit_window(day0: Any, day: int | None, window: dict | None) -> VisitWindow | None:
    """The planned date of study day ``day`` and its window (``{"before": n, "after": m}`` days, none: that day only).

    None when day 0 is unknown or unparseable, or the visit has no study day.
    """
    start = as_date(day0)
    if start is None or day is None:
        return None
    window = window or {"before": 0, "after": 0}
    planned = start + dt.timedelta(days=day)
    return VisitWindow(planned, planned - dt.timedelta(days=window.get("before", 0)),
                       planned + dt.timedelta(days=window.get("after", 0)))
