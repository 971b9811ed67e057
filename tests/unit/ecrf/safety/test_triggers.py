"""Which saves open an SAE report: the study's expedited rules, table-driven, and re-saves that open nothing new."""

import pytest
from sae_fixtures import AE_ROW

from ecrf.safety.reports import SaeReport
from ecrf.safety.triggers import Trigger, matches, study_triggers

STUDY = "CD7_CART_SAA"
CRS = {"CRSDTC": "2026-01-13", "TEMP_MAX": 39.2, "HYPOTENSION": "none", "O2_DEVICE": "room_air",
       "ANTICYTOKINE_GIVEN": False}
CRS_G2 = {**CRS, "HYPOTENSION": "fluids_only"}
CRS_G3 = {**CRS, "HYPOTENSION": "vasopressor", "VASOPRESSORS": 1}
ICANS_G3 = {"ICANSDTC": "2026-01-14", "UNAROUSABLE": False, "ICE_ORIENT": 1, "ICE_NAMING": 1, "ICE_COMMANDS": 0,
            "ICE_WRITING": 0, "ICE_ATTENTION": 0, "CONSCIOUSNESS": "tactile", "SEIZURE": "none",
            "MOTOR_WEAKNESS": False, "ICP_EDEMA": "none"}


def reports_of(app, subject):
    with app.app_context():
        return list(SaeReport.objects(subject=subject))


@pytest.mark.parametrize(("event", "form", "data", "opened"), [
    ("LOGS", "AE", {"AE": [AE_ROW]}, [("serious", "Febrile neutropenia")]),
    ("LOGS", "AE", {"AE": [{**AE_ROW, "AESER": False, "AESERCAT": None}]}, []),
    ("LOGS", "DEATH", {"DTHDTC": "2026-02-01", "DTHCAUSE": "infection"}, [("death", "Death")]),
    ("D1", "CRS", CRS_G2, []),
    ("D1", "CRS", CRS_G3, [("expedited", "Cytokine release syndrome, grade 3")]),
    ("D2", "ICANS", ICANS_G3, [("expedited", "Immune effector cell-associated neurotoxicity syndrome, grade 3")]),
])
def test_a_save_opens_a_report_exactly_when_an_expedited_rule_holds(cd7_app, cd7, event, form, data, opened):
    staff = cd7("staff01")
    subject = staff.register()
    response = staff.save(subject, event, form, data)
    assert response.status_code == 201, response.get_json()
    found = reports_of(cd7_app, subject)
    assert [(r.kind, r.data.get("event_term")) for r in found] == opened
    assert all(r.state == "draft" and r.site == "01" for r in found)


def test_a_serious_adverse_event_is_prefilled_from_its_row(cd7_app, cd7):
    staff = cd7("staff01")
    subject = staff.register()
    staff.save(subject, "LOGS", "AE", {"AE": [AE_ROW]})
    (report,) = reports_of(cd7_app, subject)
    assert report.data["seriousness"] == ["hosp"] and report.data["onset_date"] == "2026-03-01"
    assert (report.data["causality_cart"], report.data["causality_ld"]) == ("possible", "probable")
    assert report.row and report.trigger == {"item": "AESER", "value": True}


def test_resaving_the_same_event_never_opens_a_second_report_and_each_serious_row_has_its_own(cd7_app, cd7):
    staff = cd7("staff01")
    subject = staff.register()
    first = staff.save(subject, "LOGS", "AE", {"AE": [AE_ROW]}).get_json()
    rows = first["data"]["AE"]
    changed = [{**rows[0], "AEOUT": "recovered"}]
    second = staff.save(subject, "LOGS", "AE", {"AE": changed}, version=first["version"], reason="resolved")
    assert second.status_code == 200
    assert len(reports_of(cd7_app, subject)) == 1
    staff.save(subject, "LOGS", "AE", {"AE": [*changed, {**AE_ROW, "AETERM": "Sepsis"}]}, version=second.get_json()[
        "version"])
    assert sorted(r.data["event_term"] for r in reports_of(cd7_app, subject)) == ["Febrile neutropenia", "Sepsis"]


def test_resaving_a_grade_3_crs_keeps_one_report(cd7_app, cd7):
    staff = cd7("staff01")
    subject = staff.register()
    saved = staff.save(subject, "D1", "CRS", CRS_G3).get_json()
    staff.save(subject, "D1", "CRS", {**CRS_G3, "TEMP_MAX": 39.8}, version=saved["version"], reason="re-measured")
    assert len(reports_of(cd7_app, subject)) == 1


@pytest.mark.parametrize(("trigger", "value", "holds"), [
    (Trigger("CRS", "CRS_GRADE", min=3), 3, True),
    (Trigger("CRS", "CRS_GRADE", min=3), 2, False),
    (Trigger("CRS", "CRS_GRADE", min=3), True, False),
    (Trigger("AE", "AESER", equals=True), True, True),
    (Trigger("AE", "AESER", equals=True), False, False),
    (Trigger("DEATH", "DTHDTC", present=True), "2026-01-01", True),
    (Trigger("DEATH", "DTHDTC", present=True), "", False),
])
def test_a_rule_holds_for_its_values_only(trigger, value, holds):
    assert trigger.holds(value) is holds


def test_a_grade_is_read_from_the_derived_values_and_rules_come_from_the_study_parameters():
    rules = study_triggers({"expedited": [{"form": "CRS", "item": "CRS_GRADE", "min": 3}]})
    assert [m.value for m in matches(rules, "CRS", {"TEMP_MAX": 39}, {"CRS_GRADE": 4})] == [4]
    assert matches(rules, "ICANS", {}, {"CRS_GRADE": 4}) == []
    with pytest.raises(ValueError):
        study_triggers({"expedited": [{"form": "CRS", "kind": "urgent"}]})


def test_a_report_whose_projection_was_lost_after_its_event_is_restored_by_the_next_save(cd7_app, cd7):
    staff = cd7("staff01")
    subject = staff.register()
    saved = staff.save(subject, "LOGS", "AE", {"AE": [AE_ROW]}).get_json()
    with cd7_app.app_context():
        SaeReport.objects(subject=subject).delete()  # as if the process died between the append and the projection
    staff.save(subject, "LOGS", "AE", {"AE": [{**saved["data"]["AE"][0], "AEOUT": "recovered"}]},
               version=saved["version"], reason="resolved")
    (report,) = reports_of(cd7_app, subject)
    assert report.version == 1 and report.data["event_term"] == "Febrile neutropenia"
