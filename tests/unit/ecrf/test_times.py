"""Times in JSON: UTC ISO-8601 to the millisecond, naive times read as UTC."""

import datetime as dt

from ecrf.times import iso


def test_iso_writes_utc_milliseconds_with_z_and_converts_other_zones():
    at = dt.datetime(2026, 3, 4, 13, 5, 6, 789123, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert iso(at) == "2026-03-04T05:05:06.789Z"


def test_iso_reads_a_naive_time_as_utc_and_keeps_none():
    assert iso(dt.datetime(2026, 3, 4, 5, 6, 7)) == "2026-03-04T05:06:07.000Z"
    assert iso(None) is None
