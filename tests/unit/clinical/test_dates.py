"""Ages in completed years and day counts, from dates or ISO text."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrf.clinical.dates import age_in_years, as_date, days_between


@pytest.mark.parametrize("born, on, age", [
    ("2008-01-15", "2026-01-14", 17), ("2008-01-15", "2026-01-15", 18), ("2008-01-15", "2026-01-16", 18),
    ("2008-01-15", "2008-01-15", 0),
    ("2000-02-29", "2018-02-28", 17), ("2000-02-29", "2018-03-01", 18),    # 29 Feb birthday in a common year
    ("2000-02-29", "2024-02-28", 23), ("2000-02-29", "2024-02-29", 24),    # ... and in a leap year
    ("1990-12-31", "2026-12-30", 35), ("1990-12-31", "2026-12-31", 36),
    (dt.date(1990, 5, 1), "2026-05-01T09:00:00Z", 36), (dt.datetime(1990, 5, 1, 23, 0), dt.date(2026, 4, 30), 35),
])
def test_age_in_completed_years(born, on, age):
    assert age_in_years(born, on) == age


@pytest.mark.parametrize("born, on", [
    (None, "2026-01-01"), ("2000-01-01", None), ("2026-01-02", "2026-01-01"), ("not a date", "2026-01-01"),
    ("2001-02-29", "2026-01-01"), ("2026-01-01garbage", "2026-02-01"), (20000101, "2026-01-01"), ("", "2026-01-01"),
])
def test_age_missing_unparseable_or_before_birth_is_none(born, on):
    assert age_in_years(born, on) is None


@pytest.mark.parametrize("start, end, days", [
    ("2026-01-01", "2026-01-29", 28), ("2026-01-29", "2026-01-01", -28), ("2026-01-01", "2026-01-01", 0),
    ("2024-02-28", "2024-03-01", 2), ("2025-02-28", "2025-03-01", 1),
    (dt.date(2026, 1, 1), "2026-01-06T23:59:00", 5),
])
def test_days_between_is_end_minus_start(start, end, days):
    assert days_between(start, end) == days


@pytest.mark.parametrize("start, end", [(None, "2026-01-01"), ("2026-01-01", None), ("2026-13-01", "2026-01-01"),
                                        (1, 2)])
def test_days_between_missing_or_unparseable_is_none(start, end):
    assert days_between(start, end) is None


@pytest.mark.parametrize("text, date", [("2026-03-04", dt.date(2026, 3, 4)), (" 2026-03-04 ", dt.date(2026, 3, 4)),
                                        ("2026-03-04T10:00:00+08:00", dt.date(2026, 3, 4)), ("2026-03", None),
                                        (None, None)])
def test_as_date_reads_iso_text(text, date):
    assert as_date(text) == date


@given(st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)), st.integers(0, 40000))
def test_age_never_decreases_and_changes_by_at_most_one_a_day(born, offset):
    on = born + dt.timedelta(days=offset)
    assert age_in_years(born, on) >= 0
    assert days_between(born, on) == offset
    if on < dt.date(9999, 12, 31):
        assert age_in_years(born, on + dt.timedelta(days=1)) - age_in_years(born, on) in (0, 1)
