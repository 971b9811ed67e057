"""The write path through the API: validation, completeness, derivations, versions, reasons, audit."""

import json

import pytest


def test_first_save_creates_version_one_and_later_saves_count_up(staff, subject):
    first = staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70})
    assert first.status_code == 201 and first.get_json()["version"] == 1
    second = staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 171, "WEIGHT": 70},
                        version=1, reason="transcription error")
    assert second.status_code == 200 and second.get_json()["version"] == 2
    assert second.get_json()["data"]["HEIGHT"] == 171


def test_get_before_any_save_is_404_and_after_is_the_record(staff, subject):
    path = staff.record_path(subject, "SCREEN", "VS")
    assert staff.get(path).status_code == 404
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    body = staff.get(path).get_json()
    assert body["data"] == {"WEIGHT": 70} and body["status"] == "incomplete"
    assert body["missing"] == ["/VSDTC", "/HEIGHT"] and body["queries"] == []


def test_missing_required_items_make_the_record_incomplete_never_refused(staff, subject):
    response = staff.save(subject, "SCREEN", "DM", {})
    assert response.status_code == 201
    assert response.get_json()["status"] == "incomplete"


def test_conditional_item_is_required_only_while_its_condition_holds(staff, subject):
    male = staff.save(subject, "SCREEN", "DM", {"BRTHDTC": "1980-01-01", "SEX": "M"}).get_json()
    assert male["status"] == "complete"
    female = staff.save(subject, "SCREEN", "DM", {"BRTHDTC": "1980-01-01", "SEX": "F"}, version=1, reason="error")
    assert female.get_json()["status"] == "incomplete" and female.get_json()["missing"] == ["/CHILDPOT"]


def test_a_value_for_a_hidden_item_is_refused_with_its_path(staff, subject):
    response = staff.save(subject, "SCREEN", "DM", {"SEX": "M", "CHILDPOT": True})
    assert response.status_code == 422
    assert [e["path"] for e in response.get_json()["errors"]] == ["/CHILDPOT"]


def test_derivations_run_in_order_and_are_stored_under_derived(staff, subject):
    body = staff.save(subject, "SCREEN", "VS", {"WEIGHT": 120}).get_json()
    assert body["derived"] == {"DOUBLE_WEIGHT": 240.0, "HEAVY": True}


def test_a_derivation_with_a_missing_input_is_absent_not_an_error(staff, subject):
    body = staff.save(subject, "SCREEN", "VS", {"HEIGHT": 170}).get_json()
    assert body["derived"] == {}


def test_derivations_see_site_reference_ranges(staff, subject):
    body = staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 80}).get_json()
    assert body["derived"]["ALT_X_ULN"] == 2.0


@pytest.mark.parametrize("data, path, words", [
    ({"HEIGHT": "tall"}, "/HEIGHT", "not of type"),
    ({"HEIGHT": 500}, "/HEIGHT", "maximum"),
    ({"VSDTC": "05/01/2026"}, "/VSDTC", "YYYY-MM-DD"),
    ({"VSDTC": "2026-02-30"}, "/VSDTC", "out of range"),
    ({"MEASURED_AT": "2026-01-05T10:00"}, "/MEASURED_AT", "UTC offset"),
    ({"VSTIM": "25:00"}, "/VSTIM", "hour"),
    ({"WEIGHT": True}, "/WEIGHT", "not of type"),
    ({"UNKNOWN": 1}, "/UNKNOWN", "unknown item"),
    ({"$where": "1"}, "/$where", "unknown item"),
    ({"a.b": 1}, "/a.b", "unknown item"),
    ({"HEIGHT": {"$gt": 0}}, "/HEIGHT", "not of type"),
])
def test_hard_validation_refuses_with_the_field_path_and_stores_nothing(staff, subject, data, path, words):
    response = staff.save(subject, "SCREEN", "VS", data)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert any(e["path"] == path and words in e["message"] for e in errors), errors
    assert staff.get(staff.record_path(subject, "SCREEN", "VS")).status_code == 404
    assert staff.get(f"/studies/MINI/subjects/{subject}/audit").get_json()[-1]["action"] == "subject_registered"


def test_code_lists_refuse_unknown_codes(staff, subject):
    response = staff.save(subject, "SCREEN", "DM", {"SEX": "X", "RACE": ["ASIAN", "MARTIAN"]})
    paths = {e["path"] for e in response.get_json()["errors"]}
    assert response.status_code == 422 and paths == {"/SEX", "/RACE/1"}


def test_datetimes_are_stored_in_utc(staff, subject):
    body = staff.save(subject, "SCREEN", "VS", {"MEASURED_AT": "2026-01-05T16:30:00+08:00"}).get_json()
    assert body["data"]["MEASURED_AT"] == "2026-01-05T08:30:00Z"


def test_a_change_without_a_reason_is_400_and_stores_nothing(staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    response = staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1)
    assert response.status_code == 400 and response.get_json()["errors"][0]["path"] == "/reason"
    assert staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()["data"]["WEIGHT"] == 70


def test_a_stale_version_is_409_and_stores_nothing(staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="fix")
    stale = staff.save(subject, "SCREEN", "VS", {"WEIGHT": 72}, version=1, reason="fix")
    assert stale.status_code == 409
    creating_again = staff.save(subject, "SCREEN", "VS", {"WEIGHT": 73})
    assert creating_again.status_code == 409
    assert staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()["version"] == 2


def test_saving_identical_data_adds_no_audit_event(staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    again = staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70.0}, version=1)
    assert again.status_code == 200 and again.get_json()["version"] == 1


def test_audit_lists_who_changed_what_when_and_why(staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70, "HEIGHT": 170})
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 72, "HEIGHT": 170}, version=1, reason="scale recalibrated")
    events = staff.get(f"/studies/MINI/subjects/{subject}/audit").get_json()
    last = events[-1]
    assert last["seq"] == 2 and last["actor"] == "staff01" and last["action"] == "update"
    assert last["changes"] == [{"path": "/WEIGHT", "old": 70, "new": 72}]
    assert last["reason"] == "scale recalibrated" and last["prev"] == events[-2]["hash"]
    assert last["at"].endswith("Z")
    per_form = staff.get(staff.record_path(subject, "SCREEN", "VS") + "/audit").get_json()
    assert [e["seq"] for e in per_form] == [1, 2]


def test_repeating_rows_get_stable_ids_and_changes_point_at_them(staff, subject):
    first = staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "fever", "AESTDTC": "2026-01-02"},
                                                    {"AETERM": "rash", "AESTDTC": "2026-01-03"}]}).get_json()
    rows = first["data"]["AE"]
    fever, rash = rows[0]["row_id"], rows[1]["row_id"]
    assert fever != rash
    # Remove the first row and edit the second: paths use row ids, not positions.
    second = staff.save(
        subject,
        "LOGS",
        "AE",
        {"AE": [{"row_id": rash, "AETERM": "rash, generalised", "AESTDTC": "2026-01-03"}]},
        version=1,
        reason="clarified",
    )
    assert second.status_code == 200
    changes = staff.get(staff.record_path(subject, "LOGS", "AE") + "/audit").get_json()[-1]["changes"]
    assert {c["path"] for c in changes} == {f"/AE/{fever}", f"/AE/{rash}/AETERM"}


def test_row_errors_name_the_row_by_id(staff, subject):
    response = staff.save(subject, "LOGS", "AE", {"AE": [{"row_id": "rabc", "AESTDTC": "bad"}]})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "/AE/rabc/AESTDTC"


def test_a_row_condition_requires_its_item_per_row(staff, subject):
    body = staff.save(
        subject, "LOGS", "AE", {"AE": [{"row_id": "r1", "AETERM": "x", "AESTDTC": "2026-01-01", "AESER": True}]}
    ).get_json()
    assert body["missing"] == ["/AE/r1/AESERCAT"]


@pytest.mark.parametrize(
    "body, status, fragment",
    [
        ("not json", 400, "not valid JSON"),
        ('["a"]', 422, "must be a JSON object"),
        ('{"data": "x"}', 422, "/data"),
        ('{"data": {}, "version": "1"}', 422, "/version"),
        ('{"data": {}, "version": -1}', 422, "/version"),
        ('{"data": {}, "extra": 1}', 422, "/extra"),
        ('{"version": 0}', 422, "/data"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx(staff, subject, body, status, fragment):
    response = staff.client.put(
        f"/api/v1{staff.record_path(subject, 'SCREEN', 'VS')}",
        data=body,
        headers={**staff.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == status
    assert fragment in json.dumps(response.get_json())


def test_wrong_content_type_is_415(staff, subject):
    response = staff.client.put(
        f"/api/v1{staff.record_path(subject, 'SCREEN', 'VS')}",
        data="data=1",
        headers={**staff.headers(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


def test_oversized_body_is_413(staff, subject):
    big = {"data": {"NOTES": "x" * 2_000_000}}
    response = staff.put(staff.record_path(subject, "SCREEN", "DM"), big)
    assert response.status_code == 413


def test_unknown_event_or_form_or_form_not_in_event_is_404(staff, subject):
    assert staff.save(subject, "NOPE", "VS", {}).status_code == 404
    assert staff.save(subject, "D28", "VS", {}).status_code == 404
    assert staff.save(subject, "SCREEN", "NOPE", {}).status_code == 404
    assert staff.save("01-999", "SCREEN", "VS", {}).status_code == 404


def test_subject_matrix_shows_status_per_event_and_form(staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    body = staff.get(f"/studies/MINI/subjects/{subject}").get_json()
    screen = body["events"][0]
    assert screen["event"] == "SCREEN"
    assert {c["form"]: c["status"] for c in screen["forms"]} == {
        "DM": "not_started",
        "LB": "not_started",
        "VS": "incomplete",
    }


def test_subject_ids_are_assigned_per_site_or_taken_as_given(staff):
    assert staff.register("01") == "01-001"
    assert staff.register("01") == "01-002"
    assert staff.register("01", "CUSTOM-7") == "CUSTOM-7"
    duplicate = staff.post("/studies/MINI/subjects", {"site": "01", "subject_id": "CUSTOM-7"})
    assert duplicate.status_code == 409
    unknown_site = staff.post("/studies/MINI/subjects", {"site": "99"})
    assert unknown_site.status_code == 400 and "/site" in json.dumps(unknown_site.get_json())
    bad_id = staff.post("/studies/MINI/subjects", {"site": "01", "subject_id": "a b$"})
    assert bad_id.status_code == 422


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_that_is_not_json_is_refused_naming_what(staff, subject, client, literal):
    response = client.put(
        f"/api/v1{staff.record_path(subject, 'SCREEN', 'VS')}",
        headers=staff.headers(),
        data=f'{{"data": {{"WEIGHT": {literal}}}, "version": null}}',
        content_type="application/json",
    )
    assert response.status_code == 400 and literal.lstrip("-") in response.get_json()["detail"]
    assert staff.get(staff.record_path(subject, "SCREEN", "VS")).status_code == 404


def test_a_number_that_is_not_finite_never_reaches_the_store(app, subject):
    from ecrf.records.validation import validate
    from ecrf.studies import study_runtime

    with app.app_context():
        form = study_runtime("MINI").form("VS")
        assert [(e.path, "finite" in e.message) for e in validate(form, {"WEIGHT": float("nan")})] == [
            ("/WEIGHT", True)
        ]
        assert [e.path for e in validate(form, {"HEIGHT": float("-inf")})] == ["/HEIGHT"]
