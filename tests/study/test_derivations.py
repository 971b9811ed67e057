"""The study's derivations through the whole write path: expressions, ranges, baselines, parameters."""

import pytest


@pytest.fixture
def staff(cd7):
    return cd7("staff01")


@pytest.fixture
def subject(staff):
    subject = staff.register()
    staff.save(subject, "SCREEN", "IC", {"RFICDTC": "2026-01-10", "ICVER": "1", "ICREAD": True})
    return subject


def save(api, subject, event, form, data):
    response = api.save(subject, event, form, data)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_bsa_is_mosteller_to_4_dp(staff, subject):
    body = save(staff, subject, "SCREEN", "VS", {"VSDTC": "2026-01-11", "HEIGHT": 170, "WEIGHT": 70})
    assert body["derived"]["BSA"] == 1.8181


@pytest.mark.parametrize("born, age, query", [("2008-01-10", 18, False), ("2008-01-11", 17, True)])
def test_age_at_consent_and_the_age_check(staff, subject, born, age, query):
    body = save(staff, subject, "SCREEN", "DM", {"BRTHDTC": born, "SEX": "M", "ETHNIC": "HAN", "NATION": "CN"})
    assert body["derived"]["AGE"] == age
    assert any(q["check"] == "AGE_MIN" for q in body["queries"]) is query


@pytest.mark.parametrize("alt, grade, screen_query",
                         [(40, 0, False), (120, 1, False), (120.5, 2, True), (801, 4, True)])
def test_screening_alt_graded_as_baseline_normal_and_checked_at_3_uln(staff, subject, alt, grade, screen_query):
    body = save(staff, subject, "SCREEN", "LB_CHEM",
                {"LBDTC": "2026-01-11", "ALT": alt, "AST": 20, "BILI": 10, "CREAT": 70})
    assert body["derived"]["ALT_GRADE"] == grade
    assert any(q["check"] == "ALT_SCREEN" for q in body["queries"]) is screen_query
    assert any(q["check"] == "ALT_G3" for q in body["queries"]) is (grade >= 3)


def test_later_visits_grade_against_the_screening_baseline(staff, subject):
    save(staff, subject, "SCREEN", "LB_CHEM", {"LBDTC": "2026-01-11", "ALT": 50, "AST": 20, "BILI": 10, "CREAT": 70})
    # Baseline abnormal (50 > ULN 40): 74 is below 1.5 × B, so grade 0; 75 is grade 1.
    d7 = save(staff, subject, "D7", "LB_CHEM", {"LBDTC": "2026-02-07", "ALT": 74, "AST": 20, "BILI": 10, "CREAT": 70})
    assert d7["derived"]["ALT_GRADE"] == 0
    d8 = save(staff, subject, "D8", "LB_CHEM", {"LBDTC": "2026-02-08", "ALT": 75, "AST": 20, "BILI": 10, "CREAT": 70})
    assert d8["derived"]["ALT_GRADE"] == 1


def test_a_changed_baseline_regrades_the_later_visits(staff, subject):
    save(staff, subject, "SCREEN", "LB_CHEM", {"LBDTC": "2026-01-11", "ALT": 30, "AST": 20, "BILI": 10, "CREAT": 70})
    save(staff, subject, "D7", "LB_CHEM", {"LBDTC": "2026-02-07", "ALT": 74, "AST": 20, "BILI": 10, "CREAT": 70})
    assert staff.get(staff.record_path(subject, "D7", "LB_CHEM")).get_json()["derived"]["ALT_GRADE"] == 1
    staff.save(subject, "SCREEN", "LB_CHEM", {"LBDTC": "2026-01-11", "ALT": 50, "AST": 20, "BILI": 10, "CREAT": 70},
               version=1, reason="transcription")
    assert staff.get(staff.record_path(subject, "D7", "LB_CHEM")).get_json()["derived"]["ALT_GRADE"] == 0


def test_creatinine_grade_uses_sex_specific_ranges_and_baseline(staff, subject):
    save(staff, subject, "SCREEN", "DM",
         {"BRTHDTC": "1980-01-01", "SEX": "F", "CHILDPOT": False, "ETHNIC": "HAN", "NATION": "CN"})
    body = save(staff, subject, "SCREEN", "LB_CHEM",
                {"LBDTC": "2026-01-11", "ALT": 20, "AST": 20, "BILI": 10, "CREAT": 98})
    assert body["derived"]["CREAT_GRADE"] == 1  # female ULN 97
    assert body["flags"] == [{"item": "/CREAT", "flag": "H", "low": 53, "high": 97}]
    later = save(staff, subject, "D7", "LB_CHEM",
                 {"LBDTC": "2026-02-07", "ALT": 20, "AST": 20, "BILI": 10, "CREAT": 147.01})
    assert later["derived"]["CREAT_GRADE"] == 2  # > 1.5 × baseline 98


def test_bilirubin_entered_in_mg_dl_is_converted_then_graded_and_flagged(staff, subject):
    body = save(staff, subject, "SCREEN", "LB_CHEM", {"LBDTC": "2026-01-11", "ALT": 20, "AST": 20, "BILI": 1.9,
                                                       "BILI_UNIT": "mg/dL", "CREAT": 70})
    assert body["data"]["BILI"] == 1.9  # what was entered is kept
    assert body["derived"]["BILI_STD"] == pytest.approx(32.49)
    assert body["derived"]["BILI_GRADE"] == 2  # 32.49 > 1.5 × 21
    assert {"item": "/BILI", "flag": "H", "low": 2, "high": 21} in body["flags"]


@pytest.mark.parametrize("neut, grade", [(0.49, 4), (0.5, 3), (1.5, 1), (1.8, 0)])
def test_neutrophil_grades_with_the_site_lln(staff, subject, neut, grade):
    body = save(staff, subject, "SCREEN", "LB_HEM",
                {"LBDTC": "2026-01-11", "HGB": 130, "WBC": 5, "NEUT": neut, "LYM": 1.5,
                  "PLAT": 200, "RETI": 50})
    assert body["derived"]["NEUT_GRADE"] == grade


def test_hemoglobin_in_g_dl_is_converted(staff, subject):
    body = save(staff, subject, "SCREEN", "LB_HEM", {"LBDTC": "2026-01-11", "HGB": 7.9, "HGB_UNIT": "g/dL", "WBC": 5,
                                                      "NEUT": 2, "LYM": 1.5, "PLAT": 200, "RETI": 50})
    assert body["derived"]["HGB_STD"] == 79 and body["derived"]["HGB_GRADE"] == 3


@pytest.mark.parametrize("data, grade", [
    ({"TEMP_MAX": 37.9, "HYPOTENSION": "none", "O2_DEVICE": "room_air", "ANTICYTOKINE_GIVEN": False}, 0),
    ({"TEMP_MAX": 38.0, "HYPOTENSION": "none", "O2_DEVICE": "room_air", "ANTICYTOKINE_GIVEN": False}, 1),
    ({"TEMP_MAX": 38.5, "HYPOTENSION": "none", "O2_DEVICE": "low_flow_nc", "O2_FLOW": 6, "ANTICYTOKINE_GIVEN": False},
     2),
    ({"TEMP_MAX": 38.5, "HYPOTENSION": "vasopressor", "VASOPRESSORS": 1, "O2_DEVICE": "room_air",
      "ANTICYTOKINE_GIVEN": False}, 3),
    ({"TEMP_MAX": 37.0, "HYPOTENSION": "vasopressor", "VASOPRESSORS": 2, "O2_DEVICE": "room_air",
      "ANTICYTOKINE_GIVEN": True}, 4),
])
def test_crs_grade_on_the_form(staff, subject, data, grade):
    body = save(staff, subject, "D1", "CRS", {"CRSDTC": "2026-02-01", **data})
    assert body["derived"]["CRS_GRADE"] == grade
    assert any(q["check"] == "CRS_G3" for q in body["queries"]) is (grade >= 3)


def test_icans_unarousable_without_ice_is_grade_4(staff, subject):
    body = save(staff, subject, "D2", "ICANS",
                {"ICANSDTC": "2026-02-02", "UNAROUSABLE": True, "CONSCIOUSNESS": "unarousable",
                 "SEIZURE": "none", "MOTOR_WEAKNESS": False, "ICP_EDEMA": "none"})
    assert body["derived"] == {"ICANS_GRADE": 4} and body["status"] == "complete"


def test_icans_ice_zero_awake_is_grade_3(staff, subject):
    body = save(staff, subject, "D2", "ICANS",
                {"ICANSDTC": "2026-02-02", "UNAROUSABLE": False, "ICE_ORIENT": 0, "ICE_NAMING": 0,
                 "ICE_COMMANDS": 0, "ICE_WRITING": 0, "ICE_ATTENTION": 0,
                 "CONSCIOUSNESS": "alert",
                 "SEIZURE": "none", "MOTOR_WEAKNESS": False, "ICP_EDEMA": "none"})
    assert body["derived"] == {"ICE_SCORE": 0, "ICANS_GRADE": 3}


@pytest.mark.parametrize("cells, query",
                         [(70 * 2.4e6, False), (70 * 2.4e6 - 1, True), (70 * 3.6e6, False), (70 * 3.6e6 + 1, True)])
def test_car_t_dose_per_kg_and_its_tolerance(staff, subject, cells, query):
    body = save(staff, subject, "D0", "INF", {"INFDTC": "2026-02-01T02:00:00Z", "LOT": "L1", "WEIGHT_BASIS": 70,
                                              "CAR_CELLS": cells, "PREMED": True, "INFREACT": False})
    assert body["derived"]["DOSE_PER_KG"] == pytest.approx(cells / 70)
    assert any(q["check"] == "INF_DOSE" for q in body["queries"]) is query


@pytest.mark.parametrize("data, severity, response", [
    ({"HGB": 100, "NEUT": 1.0, "PLAT": 100, "RETI": 80, "TRANSFUSED_28D": False, "CELLULARITY": 30,
      "RESIDUAL_HEME": 50}, "non_severe", "CR"),
    ({"HGB": 90, "NEUT": 0.6, "PLAT": 30, "RETI": 80, "TRANSFUSED_28D": False}, None, "PR"),
    ({"HGB": 90, "NEUT": 0.6, "PLAT": 30, "RETI": 80, "TRANSFUSED_28D": True}, None, "NR"),
    ({"HGB": 70, "NEUT": 0.1, "PLAT": 10, "RETI": 10, "TRANSFUSED_28D": True, "CELLULARITY": 10}, "very_severe", "NR"),
])
def test_severity_and_response_use_the_study_parameters(staff, subject, data, severity, response):
    body = save(staff, subject, "M3", "RESP", {"RESPDTC": "2026-05-02", **data})
    assert body["derived"].get("SAA_SEVERITY") == severity and body["derived"]["RESPONSE"] == response


def test_eligibility_is_derived_from_the_checklist(staff, subject):
    answers = {f"IN{n:02d}": True for n in range(1, 12)} | {f"EX{n:02d}": False for n in range(1, 15)}
    eligible = save(staff, subject, "SCREEN", "IE", {"IEDTC": "2026-01-12", **answers})
    assert eligible["derived"] == {"ELIGIBLE": True, "FAILED": []}
    failed = staff.save(subject, "SCREEN", "IE", {"IEDTC": "2026-01-12", **answers, "IN07": False, "EX03": True},
                        version=1, reason="labs").get_json()
    assert failed["derived"] == {"ELIGIBLE": False, "FAILED": ["IN07", "EX03"]}
    cleared = {name: None for name in answers}  # the API merges: a criterion left unanswered is sent as null
    partial = staff.save(subject, "SCREEN", "IE", {**cleared, "IEDTC": "2026-01-12", "IN01": True}, version=2,
                         reason="x").get_json()
    assert "ELIGIBLE" not in partial["derived"]


def test_ie_answer_contradicting_the_labs_raises_a_query(staff, subject):
    save(staff, subject, "SCREEN", "LB_CHEM", {"LBDTC": "2026-01-11", "ALT": 130, "AST": 20, "BILI": 10, "CREAT": 70})
    answers = {f"IN{n:02d}": True for n in range(1, 12)} | {f"EX{n:02d}": False for n in range(1, 15)}
    body = save(staff, subject, "SCREEN", "IE", {"IEDTC": "2026-01-12", **answers})
    assert [q["item"] for q in body["queries"] if q["check"] == "IE_ALT_AST"] == ["/IN07"]


def test_pregnancy_test_is_required_for_a_woman_of_childbearing_potential(staff, subject):
    dm = save(staff, subject, "SCREEN", "DM",
              {"BRTHDTC": "1990-01-01", "SEX": "F", "CHILDPOT": True, "ETHNIC": "HAN", "NATION": "CN"})
    assert [q["check"] for q in dm["queries"]] == ["PREG_TEST_REQUIRED"]
    save(staff, subject, "SCREEN", "PREG", {"HCGPERF": True, "HCGDTC": "2026-01-11", "HCGRES": "NEGATIVE"})
    assert staff.get(staff.record_path(subject, "SCREEN", "DM")).get_json()["queries"] == []


def test_lymphodepletion_doses_against_the_bsa_based_dose(staff, subject):
    save(staff, subject, "SCREEN", "VS", {"VSDTC": "2026-01-11", "HEIGHT": 170, "WEIGHT": 70})
    rows = [{"LDDAY": -5, "LDDTC": "2026-01-27", "FLU_DOSE": 54.54, "CY_DOSE": 545.43},
            {"LDDAY": -4, "LDDTC": "2026-01-28", "FLU_DOSE": 60.0, "CY_DOSE": 545.43},   # +10.01 %: query
            {"LDDAY": -3, "LDDTC": "2026-01-29", "FLU_DOSE": 59.99, "CY_DOSE": 490.9}]   # within 10 %
    body = save(staff, subject, "LD", "LD", {"LD_DAYS": rows})
    assert body["derived"]["FLU_EXPECTED"] == 54.54 and body["derived"]["CY_EXPECTED"] == 545.43
    flagged = [q["item"].split("/")[-1] for q in body["queries"] if q["check"] == "LD_FLU_DOSE"]
    assert flagged == ["FLU_DOSE"] and len([q for q in body["queries"] if q["check"] == "LD_CY_DOSE"]) == 0
    row_id = body["data"]["LD_DAYS"][1]["row_id"]
    assert [q["item"] for q in body["queries"] if q["check"] == "LD_FLU_DOSE"] == [f"/LD_DAYS/{row_id}/FLU_DOSE"]


def test_infusion_must_follow_lymphodepletion_and_visits_keep_their_windows(staff, subject):
    save(staff, subject, "LD", "LD",
         {"LD_DAYS": [{"LDDAY": -3, "LDDTC": "2026-02-01", "FLU_DOSE": 54, "CY_DOSE": 540}]})
    inf = save(staff, subject, "D0", "INF", {"INFDTC": "2026-02-01T08:00:00Z", "LOT": "L", "WEIGHT_BASIS": 70,
                                             "CAR_CELLS": 2.1e8, "PREMED": True, "INFREACT": False})
    assert "INF_AFTER_LD" in [q["check"] for q in inf["queries"]]
    d21_ok = save(staff, subject, "D21", "LB_HEM",
                  {"LBDTC": "2026-02-24", "HGB": 100, "WBC": 4, "NEUT": 2, "LYM": 1, "PLAT": 160, "RETI": 50})
    assert "LBDTC_WINDOW" not in [q["check"] for q in d21_ok["queries"]]   # day 23 = 21 + 2
    d28_late = save(staff, subject, "D28", "LB_HEM",
                    {"LBDTC": "2026-03-05", "HGB": 100, "WBC": 4, "NEUT": 2, "LYM": 1, "PLAT": 160, "RETI": 50})
    assert "LBDTC_WINDOW" in [q["check"] for q in d28_late["queries"]]     # day 32 > 28 + 3


def test_missing_inputs_leave_derived_values_absent_without_error(staff, subject):
    body = save(staff, subject, "SCREEN", "LB_CHEM", {"LBDTC": "2026-01-11", "AST": 20})
    assert body["derived"] == {"AST_GRADE": 0} and body["status"] == "incomplete"
    crs = save(staff, subject, "D1", "CRS", {"CRSDTC": "2026-02-01", "TEMP_MAX": 39})
    assert "CRS_GRADE" not in crs["derived"]
    resp = save(staff, subject, "M3", "RESP", {"RESPDTC": "2026-05-02", "HGB": 90})
    assert resp["derived"] == {}
