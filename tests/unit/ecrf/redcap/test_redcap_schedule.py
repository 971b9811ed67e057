"""REDCap names → engine OIDs, and the repeating instruments and events file."""

import pytest

from ecrf.odm_import.reader import ImportError_
from ecrf.odm_import.report import Report
from ecrf.redcap.schedule import Schedule, engine_oid, mark_repeating


@pytest.mark.parametrize("name, taken, expected", [
    ("visit_1_arm_1", set(), "VISIT_1_ARM_1"),
    ("row_id", set(), "ROW_ID_2"),                 # reserved by the engine for rows
    ("1st_visit", set(), "X1ST_VISIT"),
    ("sex", {"SEX"}, "SEX_2"),
    ("a" * 100, set(), "A" * 60),
])
def test_engine_oids_are_upper_case_unique_and_short(name, taken, expected):
    assert engine_oid(name, taken) == expected and expected in taken


def test_a_repeating_event_and_a_repeating_instrument_are_marked(tmp_path):
    path = tmp_path / "rep.csv"
    path.write_text("event_name,form_name,custom_form_label\nv2,,\nv1,ae,[ae_term]\n")
    schedule = Schedule([{"oid": "V1", "repeating": False, "forms": ["AE"]},
                         {"oid": "V2", "repeating": False, "forms": []}], {"v1": "V1", "v2": "V2"})
    report = Report("dd.csv", "t")
    mark_repeating(schedule, {"ae": "AE"}, path, report)
    assert [e["repeating"] for e in schedule.events] == [False, True] and schedule.repeating_forms == {"ae"}
    assert [(e.kind, e.outcome) for e in report.entries] == [("repeating event", "carried"),
                                                             ("repeating instrument", "translated"),
                                                             ("custom form label", "dropped")]


def test_a_repeating_file_naming_an_unknown_instrument_is_refused_with_its_line(tmp_path):
    path = tmp_path / "rep.csv"
    path.write_text("form_name\nae\nlabs\n")
    with pytest.raises(ImportError_, match=r"rep.csv:3: instrument 'labs' is not in the data dictionary"):
        mark_repeating(Schedule([{"oid": "EVENT", "repeating": False, "forms": []}]), {"ae": "AE"}, path,
                       Report("dd.csv", "t"))
