"""A PUT through the API merges into the stored record; the service's default (the HTML form page) replaces it."""

import pytest
from conftest import record

from ecrf.records.save import save_record
from ecrf.studies import study_runtime
from ecrf.users import get_user

SAVED = {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70}
SAVED_PATHS = ("/VSDTC", "/HEIGHT", "/WEIGHT")  # the first save's changes


@pytest.mark.parametrize("data, reason, status, stored, changed", [
    pytest.param({"WEIGHT": 71}, "re-weighed", 200, {**SAVED, "WEIGHT": 71}, ["/WEIGHT"],
                 id="absent items are kept, a new value replaces"),
    pytest.param({"VSTIM": "10:30"}, "late entry", 200, {**SAVED, "VSTIM": "10:30"}, ["/VSTIM"],
                 id="a first value for an empty item joins the kept ones"),
    pytest.param({"HEIGHT": None}, "not measured", 200, {"VSDTC": "2026-01-05", "WEIGHT": 70}, ["/HEIGHT"],
                 id="null clears an item"),
    pytest.param({"HEIGHT": None}, None, 400, SAVED, [],
                 id="clearing a saved value needs a reason"),
    pytest.param({"HEIGHT": 171, "WEIGHT": None}, None, 400, SAVED, [],
                 id="changing a saved value needs a reason"),
    pytest.param({}, None, 200, SAVED, [],
                 id="no items leaves the record as it stands"),
    pytest.param({"UNKNOWN": 1}, "typo", 422, SAVED, [],
                 id="an unknown item is still refused"),
    pytest.param({"WEIGHT": "heavy"}, "typo", 422, SAVED, [],
                 id="an invalid value is still refused"),
])
def test_a_put_merges_its_items_into_the_saved_record(staff, subject, data, reason, status, stored, changed):
    assert staff.save(subject, "SCREEN", "VS", SAVED).status_code == 201
    response = staff.save(subject, "SCREEN", "VS", data, version=1, reason=reason)
    assert response.status_code == status, response.get_json()
    assert record(staff, subject)["data"] == stored
    history = staff.get(staff.record_path(subject, "SCREEN", "VS") + "/audit").get_json()
    assert len(history) == (2 if changed else 1)
    assert sorted(change["path"] for change in history[-1]["changes"]) == sorted(changed or SAVED_PATHS)
    assert record(staff, subject)["version"] == len(history)


def test_a_cleared_required_item_makes_the_record_incomplete_again(staff, subject):
    staff.save(subject, "SCREEN", "VS", SAVED)
    body = staff.save(subject, "SCREEN", "VS", {"HEIGHT": None}, version=1, reason="not measured").get_json()
    assert body["status"] == "incomplete" and body["missing"] == ["/HEIGHT"]
    assert body["derived"]["DOUBLE_WEIGHT"] == 140.0  # derived from the kept WEIGHT


def test_a_hidden_item_kept_from_the_saved_record_must_be_cleared_in_the_same_put(staff, subject):
    staff.save(subject, "SCREEN", "DM", {"BRTHDTC": "1980-01-01", "SEX": "F", "CHILDPOT": True})
    refused = staff.save(subject, "SCREEN", "DM", {"SEX": "M"}, version=1, reason="error")
    assert refused.status_code == 422 and [e["path"] for e in refused.get_json()["errors"]] == ["/CHILDPOT"]
    cleared = staff.save(subject, "SCREEN", "DM", {"SEX": "M", "CHILDPOT": None}, version=1, reason="error")
    assert cleared.status_code == 200 and cleared.get_json()["data"] == {"BRTHDTC": "1980-01-01", "SEX": "M"}


def test_a_repeating_group_sent_is_its_whole_list_of_rows_matched_by_row_id(staff, subject):
    first = staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "fever", "AESTDTC": "2026-01-02"},
                                                    {"AETERM": "rash", "AESTDTC": "2026-01-03"}]}).get_json()
    fever, rash = (row["row_id"] for row in first["data"]["AE"])
    kept = staff.save(subject, "LOGS", "AE", {"AE": [{"row_id": rash, "AETERM": "rash, generalised",
                                                      "AESTDTC": "2026-01-03"}]}, version=1, reason="entered in error")
    assert kept.status_code == 200
    assert kept.get_json()["data"]["AE"] == [{"row_id": rash, "AETERM": "rash, generalised", "AESTDTC": "2026-01-03"}]
    history = staff.get(staff.record_path(subject, "LOGS", "AE") + "/audit").get_json()
    assert {change["path"] for change in history[-1]["changes"]} == {f"/AE/{fever}", f"/AE/{rash}/AETERM"}
    cleared = staff.save(subject, "LOGS", "AE", {"AE": None}, version=2, reason="no events after all")
    assert cleared.status_code == 200 and cleared.get_json()["data"] == {}


def test_a_save_without_merge_replaces_the_whole_form_as_the_form_page_posts_it(app, staff, subject):
    staff.save(subject, "SCREEN", "VS", SAVED)
    with app.test_request_context():
        result = save_record(study_runtime("MINI"), get_user("staff01"), subject, "SCREEN", "VS", {"WEIGHT": 71},
                             version=1, reason="an emptied field clears")
    assert result.changed and result.record["data"] == {"WEIGHT": 71}
    assert record(staff, subject)["data"] == {"WEIGHT": 71}
