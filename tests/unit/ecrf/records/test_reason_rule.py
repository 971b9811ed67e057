"""A reason for change is asked only when a saved non-empty value is changed or removed (21 CFR 11.10(e))."""

import pytest

from ecrf.records.save import reason_needed

FEVER = {"row_id": "r1", "AETERM": "fever", "AESTDTC": "2026-01-01"}
RASH = {"row_id": "r2", "AETERM": "rash", "AESTDTC": "2026-01-02"}

# case: (form, first data, second data, reason needed)
CASES = {
    "first entry of a blank item": ("VS", {"WEIGHT": 70}, {"WEIGHT": 70, "HEIGHT": 170}, False),
    "change of a saved value": ("VS", {"WEIGHT": 70}, {"WEIGHT": 71}, True),
    "removal of a saved value": ("VS", {"WEIGHT": 70, "HEIGHT": 170}, {"WEIGHT": 70, "HEIGHT": None}, True),
    "row added": ("AE", {"AE": [FEVER]}, {"AE": [FEVER, RASH]}, False),
    "first row of a blank log": ("AE", {}, {"AE": [FEVER]}, False),
    "blank item of a saved row filled": ("AE", {"AE": [FEVER]}, {"AE": [{**FEVER, "AESER": False}]}, False),
    "row removed": ("AE", {"AE": [FEVER, RASH]}, {"AE": [FEVER]}, True),
    "item of a saved row changed": ("AE", {"AE": [FEVER]}, {"AE": [{**FEVER, "AETERM": "pyrexia"}]}, True),
}


@pytest.mark.parametrize("form, first, second, needed", CASES.values(), ids=CASES.keys())
def test_the_api_asks_a_reason_only_for_a_changed_or_removed_saved_value(staff, subject, form, first, second, needed):
    event = "LOGS" if form == "AE" else "SCREEN"
    staff.save(subject, event, form, first)
    response = staff.save(subject, event, form, second, version=1)
    if needed:
        assert response.status_code == 400
        assert response.get_json()["errors"][0]["path"] == "/reason"
    else:
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["version"] == 2


@pytest.mark.parametrize("old, new, needed", [
    (None, 5, False), ("", "x", False), ([], ["a"], False), (5, None, True), ("x", "", True), (["a"], None, True),
])
def test_reason_needed_looks_only_at_the_old_value(old, new, needed):
    assert bool(reason_needed([{"path": "/X", "old": old, "new": new}])) is needed
