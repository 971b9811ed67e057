"""AE consistency soft checks through the real write path: fatal ⇔ criterion "death" ⇔ a Death form,
grade 5 ⇔ fatal, end date on or after start. They raise queries and never refuse the save."""

import json
import pathlib

import pytest

AE_CHECKS = {"AE_END_AFTER_START", "AE_GRADE5_FATAL", "AE_FATAL_GRADE5", "AE_FATAL_DEATH_CRITERION",
             "AE_DEATH_CRITERION_FATAL", "AE_FATAL_DEATH_FORM", "AE_GRADE5_DEATH", "AE_GRADE4_SERIOUS"}
LOGS = pathlib.Path(__file__).parents[2] / "forms" / "cd7-cart-saa" / "logs"
START = "2026-02-10"
DEATH = {"DTHDTC": "2026-02-20", "DTHCAUSE": "infection", "AUTOPSY": False}


@pytest.fixture
def staff(cd7):
    return cd7("staff01")


@pytest.fixture
def subject(staff):
    subject = staff.register()
    staff.save(subject, "SCREEN", "IC", {"RFICDTC": "2026-01-10", "ICVER": "1", "ICREAD": True})
    return subject


def ae_row(grade, outcome, criteria=None, end=None):
    """One AE row; seriousness criteria only when serious, an end date only when given (hidden items stay empty)."""
    row = {"AETERM": "Sepsis", "AETOXGR": grade, "AESTDTC": START, "AESER": bool(criteria),
           "AERELCAR": "possible", "AERELLD": "unlikely", "AEOUT": outcome}
    if criteria:
        row["AESERCAT"] = criteria
    if end is not None:
        row["AEENDTC"] = end
    return row


def save(api, subject, event, form, data, version=None, reason=None):
    response = api.save(subject, event, form, data, version=version, reason=reason)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def found(record, checks=AE_CHECKS):
    return {q["check"] for q in record["queries"] if q["check"] in checks}


def read(api, subject, event, form):
    return api.get(api.record_path(subject, event, form)).get_json()


@pytest.mark.parametrize("row, death_form, expected", [
    # consistent events raise nothing
    (ae_row(3, "recovered", end=START), False, set()),
    (ae_row(2, "not_recovered", ["hosp"]), False, set()),
    (ae_row(5, "fatal", ["death"], end="2026-02-20"), True, set()),
    (ae_row(5, "fatal", ["hosp", "death"], end="2026-02-20"), True, set()),
    # the outside tester's case: serious for "Death" with outcome "Not recovered"
    (ae_row(4, "not_recovered", ["death"]), False, {"AE_DEATH_CRITERION_FATAL"}),
    (ae_row(4, "unknown", ["death"]), True, {"AE_DEATH_CRITERION_FATAL"}),
    # fatal outcome without the "death" criterion (serious for another reason, or not serious at all)
    (ae_row(5, "fatal", ["life"], end="2026-02-20"), True, {"AE_FATAL_DEATH_CRITERION"}),
    (ae_row(5, "fatal", end="2026-02-20"), True, {"AE_FATAL_DEATH_CRITERION", "AE_GRADE4_SERIOUS"}),
    # fatal ⇔ a Death form
    (ae_row(5, "fatal", ["death"], end="2026-02-20"), False, {"AE_FATAL_DEATH_FORM", "AE_GRADE5_DEATH"}),
    # grade 5 ⇔ fatal, both ways
    (ae_row(4, "fatal", ["death"], end="2026-02-20"), True, {"AE_FATAL_GRADE5"}),
    (ae_row(5, "recovering", ["death"]), True, {"AE_GRADE5_FATAL", "AE_DEATH_CRITERION_FATAL"}),
    (ae_row(5, "not_recovered", ["life"]), False, {"AE_GRADE5_FATAL", "AE_GRADE5_DEATH"}),
    # end date on or after start: the same day is fine, the day before is not
    (ae_row(2, "recovered", end="2026-02-10"), False, set()),
    (ae_row(2, "recovered", end="2026-02-09"), False, {"AE_END_AFTER_START"}),
    (ae_row(5, "fatal", ["death"], end="2026-02-09"), True, {"AE_END_AFTER_START"}),
])
def test_each_combination_raises_exactly_its_ae_queries(staff, subject, row, death_form, expected):
    if death_form:
        save(staff, subject, "LOGS", "DEATH", DEATH)
    body = save(staff, subject, "LOGS", "AE", {"AE": [row]})
    assert found(body) == expected
    row_id = body["data"]["AE"][0]["row_id"]
    assert all(q["item"].startswith(f"/AE/{row_id}/") for q in body["queries"] if q["check"] in expected)


def test_each_row_is_checked_on_its_own(staff, subject):
    rows = [ae_row(2, "recovered", end=START), ae_row(4, "not_recovered", ["death"])]
    body = save(staff, subject, "LOGS", "AE", {"AE": rows})
    second = body["data"]["AE"][1]["row_id"]
    assert [q["item"] for q in body["queries"] if q["check"] in AE_CHECKS] == [f"/AE/{second}/AESERCAT"]


@pytest.mark.parametrize("rows, query", [
    (None, True),                                                         # no AE form at all
    ([ae_row(3, "recovered", end=START)], True),                          # AEs, none fatal
    ([ae_row(3, "recovered", end=START), ae_row(5, "fatal", ["death"], end="2026-02-20")], False),
])
def test_a_death_form_needs_an_ae_with_a_fatal_outcome(staff, subject, rows, query):
    if rows is not None:
        save(staff, subject, "LOGS", "AE", {"AE": rows})
    body = save(staff, subject, "LOGS", "DEATH", DEATH)
    assert found(body, {"DEATH_FATAL_AE"}) == ({"DEATH_FATAL_AE"} if query else set())


def test_saving_the_death_form_rechecks_the_fatal_ae(staff, subject):
    ae = save(staff, subject, "LOGS", "AE", {"AE": [ae_row(5, "fatal", ["death"], end="2026-02-20")]})
    assert found(ae) == {"AE_FATAL_DEATH_FORM", "AE_GRADE5_DEATH"}
    save(staff, subject, "LOGS", "DEATH", DEATH)
    assert found(read(staff, subject, "LOGS", "AE")) == set()


def test_saving_a_fatal_ae_rechecks_the_death_form(staff, subject):
    death = save(staff, subject, "LOGS", "DEATH", DEATH)
    assert found(death, {"DEATH_FATAL_AE"}) == {"DEATH_FATAL_AE"}
    save(staff, subject, "LOGS", "AE", {"AE": [ae_row(5, "fatal", ["death"], end="2026-02-20")]})
    assert found(read(staff, subject, "LOGS", "DEATH"), {"DEATH_FATAL_AE"}) == set()


def test_correcting_the_outcome_answers_the_tester_query(staff, subject):
    first = save(staff, subject, "LOGS", "AE", {"AE": [ae_row(4, "not_recovered", ["death"])]})
    assert found(first) == {"AE_DEATH_CRITERION_FATAL"}
    save(staff, subject, "LOGS", "DEATH", DEATH)
    row = first["data"]["AE"][0] | {"AETOXGR": 5, "AEOUT": "fatal", "AEENDTC": "2026-02-20"}
    fixed = save(staff, subject, "LOGS", "AE", {"AE": [row]}, version=first["version"], reason="outcome")
    assert found(fixed) == set()


def test_ae_messages_exist_in_both_languages_and_take_no_parameters():
    ids = AE_CHECKS | {"DEATH_FATAL_AE"}
    checks = [c for oid in ("AE", "DEATH") for c in _form(oid).get("x-ecrf-checks", []) if c["id"] in ids]
    assert {c["id"] for c in checks} == ids
    for check in checks:
        assert set(check["message"]) == {"en", "zh"}
        assert all(message.strip() and "{" not in message for message in check["message"].values())


def _form(oid):
    return json.loads((LOGS / f"{oid}.json").read_text(encoding="utf-8"))
