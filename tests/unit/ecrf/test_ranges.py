"""Which reference range is in force: the study's default until a site's entry's valid-from date, never a retired
entry, the subject's sex over both sexes, the latest valid-from date, and on one date the entry made last."""

from __future__ import annotations

import datetime as dt

import pytest

from ecrf.ranges import ranges_for

STUDY = {"lab_ranges": [{"analyte": "ALT", "unit": "U/L", "low": 0, "high": 40}]}
ENTERED = dt.datetime(2026, 1, 10, 9, 0)


def entry(range_id: str = "r1", **fields) -> dict:
    return {"_id": range_id, "site": "01", "analyte": "ALT", "unit": "U/L", "low": 5.0, "high": 50.0,
            "valid_from": "2026-03-01", "retired_at": None, "created_at": ENTERED, **fields}


LATER = ENTERED + dt.timedelta(minutes=1)


@pytest.mark.parametrize("entries, day, sex, high", [
    ([], "2026-03-01", "M", 40),                                                       # the study's default
    ([entry()], "2026-02-28", "M", 40),                                                # the day before valid-from
    ([entry()], "2026-03-01", "M", 50),                                                # from valid-from on
    ([entry(retired_at=dt.datetime(2026, 2, 1))], "2026-03-05", "M", 40),              # retired: never
    ([{k: v for k, v in entry().items() if k != "retired_at"}], "2026-03-05", "M", 50),  # no retired_at at all
    ([entry(), entry("r2", high=60.0, valid_from="2026-04-01")], "2026-03-31", "M", 50),
    ([entry(), entry("r2", high=60.0, valid_from="2026-04-01")], "2026-04-01", "M", 60),
    ([entry("r2", high=60.0, valid_from="2026-04-01"), entry()], "2026-04-01", "M", 60),  # read order never decides
    ([entry(), entry("r2", high=35.0, sex="F")], "2026-03-05", "F", 35),               # her sex over both sexes
    ([entry(), entry("r2", high=35.0, sex="F")], "2026-03-05", "M", 50),
    ([entry("a", high=55.0, created_at=LATER), entry("b")], "2026-03-05", "M", 55),    # one date: entered last wins
    ([entry("b"), entry("a", high=55.0, created_at=LATER)], "2026-03-05", "M", 55),
])
def test_the_range_in_force_on_a_day(entries, day, sex, high):
    assert ranges_for(STUDY, "01", sex, 40, day, entries)["ALT"]["high"] == high


def test_ranges_read_here_and_ranges_handed_in_agree(app):
    from ecrf.ranges import LabRange, add_range, retire_range
    from ecrf.users import get_user

    with app.app_context():
        dm = get_user("dm")
        add_range(dm, "01", "ALT", "U/L", 5, 50, valid_from="2026-03-01")
        add_range(dm, "01", "ALT", "U/L", 5, 55, valid_from="2026-03-01", sex="M")
        retire_range(dm, add_range(dm, "01", "ALT", "U/L", 5, 99, valid_from="2026-02-01").range_id)
        add_range(dm, "02", "ALT", "U/L", 5, 77, valid_from="2026-01-01")
        stored = list(LabRange._get_collection().find({"site": "01"}))
        for day in ("2026-02-15", "2026-03-01"):
            for sex in ("M", "F"):
                assert ranges_for({}, "01", sex, 40, day) == ranges_for({}, "01", sex, 40, day, stored)
        assert ranges_for({}, "01", "M", 40, "2026-03-01")["ALT"]["high"] == 55
        assert ranges_for({}, "01", "F", 40, "2026-03-01")["ALT"]["high"] == 50
        assert ranges_for({}, "01", "F", 40, "2026-02-15") == {}
