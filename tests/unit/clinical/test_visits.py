"""Planned visit dates and windows counted from day 0."""

import datetime as dt

import pytest

from ecrf.clinical.visits import VisitWindow, visit_window


@pytest.mark.parametrize("day0, day, window, expected", [
    ("2026-04-06", 21, {"before": 2, "after": 2}, ("2026-04-27", "2026-04-25", "2026-04-29")),
    ("2026-04-06", -5, {"before": 0, "after": 0}, ("2026-04-01", "2026-04-01", "2026-04-01")),
    ("2026-04-06", 0, None, ("2026-04-06", "2026-04-06", "2026-04-06")),
    (dt.date(2026, 12, 30), 3, {"before": 1, "after": 30}, ("2027-01-02", "2027-01-01", "2027-02-01")),
])
def test_the_window_opens_before_and_closes_after_the_planned_day(day0, day, window, expected):
    assert visit_window(day0, day, window) == VisitWindow(*(dt.date.fromisoformat(d) for d in expected))


@pytest.mark.parametrize("day0, day", [(None, 5), ("not a date", 5), ("2026-04-06", None)])
def test_no_window_without_day_0_or_a_study_day(day0, day):
    assert visit_window(day0, day, {"before": 1, "after": 1}) is None
