"""Ages at consent and day counts."""

import datetime as dt

import pytest

from ecrf.clinical.dates import age_in_years, days_between


@pytest.mark.parametrize("born, on, age", [
    ("2008-01-15", "2026-01-14", 17), ("2008-01-15", "2026-01-15", 18), ("2000-02-29", "2018-02-28", 17),
    ("2000-02-29", "2018-03-01", 18), (dt.date(1990, 5, 1), "2026-05-01T09:00:00Z", 36),
])
def test_age_in_completed_years(born, on, age):
    assert age_in_years(born, on) == age


@pytest.mark.parametrize("born, on", [(None, "2026-01-01"), ("2026-01-02", "2026-01-01"), ("not a date", "2026-01-01")])
def test_age_missing_or_impossible(born, on):
    assert age_in_years(born, on) is None


def test_days_between():
    assert days_between("2026-01-01", "2026-01-29") == 28
    assert days_between("2026-01-29", "2026-01-01") == -28
    assert days_between(None, "2026-01-01") is None
