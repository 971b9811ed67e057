"""What a save reads and re-evaluates: only the checks that depend on what changed; a lagging projection."""

from __future__ import annotations

import pytest
from conftest import sent_commands

import ecrf.expressions
from ecrf.definitions import rule_inputs
from ecrf.errors import Invalid
from ecrf.expressions import compile_expression
from ecrf.records.save import save_record
from ecrf.studies import study_runtime
from ecrf.users import get_user


@pytest.mark.parametrize("rule, item, expected", [
    ("data.A > 1.0", "/A", {"A"}),
    ("!has(data.A) || data.A < data.B", "/A", {"A", "B"}),
    ("!has(derived.BMI) || derived.BMI < 40.0", "/WEIGHT", {"BMI"}),
    ("size(row.AETERM) > 2", "/AE/*/AETERM", {"AE"}),
    ("data.AE.all(r, r.AETERM != '')", "/AE", {"AE"}),
    ("size(data) > 0", "/A", None),                                   # reads the whole record
    ("data.A <= params.limit", "/A", {"A"}),                          # parameters are fixed for a study version
    ("data.A <= ranges.ALT.high", "/A", None),                        # site ranges (subject facts pick them)
    ("get(records, 'SCREEN.VS.VSDTC') == null", "/A", None),          # another record
    ("subject.age >= 18.0", "/A", None),
    ("event.day == 0.0 && data.A > 1.0", "/A", {"event", "A"}),     # the event's date is the record's date item
    ("size(row.X) > 2", "/A", None),                                  # a row outside a row check
])
def test_a_check_knows_which_values_it_reads(rule, item, expected):
    inputs = rule_inputs(compile_expression(rule), rule, item)
    assert inputs == (frozenset(expected) if expected is not None else None)


@pytest.fixture
def evaluated(monkeypatch):
    """The sources of the expressions evaluated from now on."""
    seen: list[str] = []
    original = ecrf.expressions.evaluate

    def counting(program, context):
        seen.append(program.source)
        return original(program, context)

    monkeypatch.setattr(ecrf.expressions, "evaluate", counting)
    return seen


def test_a_save_re_evaluates_only_the_checks_that_read_what_changed(staff, subject, evaluated):
    staff.save(subject, "SCREEN", "DM", {"SEX": "F", "NOTES": "7"})
    assert any("CHILDPOT" in s for s in evaluated) and any("NOTES" in s for s in evaluated)
    evaluated.clear()
    staff.save(subject, "SCREEN", "DM", {"SEX": "F", "NOTES": "8"}, version=1, reason="typo")
    assert evaluated == ["!has(data.NOTES) || int(data.NOTES) >= 0"]


def test_a_finding_whose_check_was_not_re_run_keeps_its_query_open(staff, subject, app):
    staff.save(subject, "SCREEN", "DM", {"SEX": "F"})
    queries = staff.get(staff.record_path(subject, "SCREEN", "DM")).get_json()["queries"]
    assert [q["check"] for q in queries] == ["CHILDPOT_IF_FEMALE"]
    second = staff.save(subject, "SCREEN", "DM", {"SEX": "F", "NOTES": "1"}, version=1, reason="more")
    assert second.status_code == 200
    record = staff.get(staff.record_path(subject, "SCREEN", "DM")).get_json()
    assert [q["state"] for q in record["queries"]] == ["open"]
    fixed = staff.save(subject, "SCREEN", "DM", {"SEX": "F", "NOTES": "1", "CHILDPOT": False}, version=2,
                       reason="answered")
    assert fixed.status_code == 200
    assert staff.get(staff.record_path(subject, "SCREEN", "DM")).get_json()["queries"] == []


def test_a_changed_definition_re_runs_every_check(staff, subject, app, evaluated):
    staff.save(subject, "SCREEN", "DM", {"SEX": "M", "NOTES": "1"})
    with app.app_context():
        from ecrf.db import database
        database().records.update_one({}, {"$set": {"definition": "an older form version"}})
    evaluated.clear()
    staff.save(subject, "SCREEN", "DM", {"SEX": "M", "NOTES": "2"}, version=1, reason="typo")
    assert len(evaluated) == 2


def test_answers_given_under_another_study_version_are_not_reused(staff, subject, app, evaluated):
    staff.save(subject, "SCREEN", "DM", {"SEX": "M", "NOTES": "1"})
    with app.app_context():
        from ecrf.db import database
        database().records.update_one({}, {"$set": {"failing.study": "an older study version"}})
    evaluated.clear()
    staff.save(subject, "SCREEN", "DM", {"SEX": "M", "NOTES": "2"}, version=1, reason="typo")
    assert len(evaluated) == 2


def test_a_save_onto_a_lagging_projection_is_refused_then_the_projection_catches_up(staff, subject, app):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    with app.app_context():
        from ecrf.trail import audit_store, record_stream
        stream = record_stream("MINI", subject, "SCREEN", "VS")
        head = audit_store().head(stream)
        # as if a process died right after appending version 2
        audit_store().append(stream, 1, actor="staff01", action="update", reason="lost",
                             changes=[{"path": "/WEIGHT", "old": 70, "new": 71}], state={}, head=head)
    refused = staff.save(subject, "SCREEN", "VS", {"WEIGHT": 72}, version=1, reason="again")
    assert refused.status_code == 409
    record = staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()
    assert record["version"] == 2 and record["data"]["WEIGHT"] == 71
    retried = staff.save(subject, "SCREEN", "VS", {"WEIGHT": 72}, version=2, reason="again")
    assert retried.status_code == 200 and retried.get_json()["version"] == 3


def test_kept_bindings_never_leak_one_save_into_the_next(staff, app):
    """The expression context of a form is reused between saves: each save must see only its own values."""
    first, second = staff.register(), staff.register()
    high = staff.save(first, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 400}).get_json()
    normal = staff.save(second, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 20}).get_json()
    again = staff.save(first, "SCREEN", "LB", {"LBDTC": "2026-01-06", "ALT": 400}, version=1, reason="date").get_json()
    assert high["derived"]["ALT_X_ULN"] == 10.0 and normal["derived"]["ALT_X_ULN"] == 0.5
    assert "ALT_RATIO" in {q["check"] for q in high["queries"]}
    assert "ALT_RATIO" not in {q["check"] for q in normal["queries"]}
    assert "ALT_RATIO" in {q["check"] for q in again["queries"]}


@pytest.mark.parametrize("a, b, same", [
    (1.0, 1.0, True), (True, 1.0, False), (1, 1.0, False), ({"a": 1.0}, {"a": 1.0}, True),
    ({"a": 1.0}, {"a": 1.0, "b": None}, False), ([True], [1.0], False), ({"a": [1.0, "x"]}, {"a": [1.0, "x"]}, True),
])
def test_a_value_is_bound_again_unless_equal_in_type_too(a, b, same):
    from ecrf.expressions import same_value
    assert same_value(a, b) is same


def test_a_subject_whose_document_was_never_stored_is_restored_by_a_save(staff, subject, app):
    with app.app_context():
        from ecrf.db import database
        database().subjects.delete_one({"_id": f"MINI/{subject}"})  # as if registration stopped after its append
    response = staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "WEIGHT": 70, "HEIGHT": 175})
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        from ecrf.db import database
        assert database().subjects.find_one({"_id": f"MINI/{subject}"})["site"] == "01"


def test_a_save_for_a_subject_of_another_site_or_none_is_not_found_and_stores_nothing(staff, subject, as_user, app):
    other = as_user("staff02")
    for who, subject_id in ((other, subject), (staff, "NOPE-1")):
        response = who.save(subject_id, "SCREEN", "VS", {"VSDTC": "2026-01-05", "WEIGHT": 70, "HEIGHT": 175})
        assert response.status_code == 404 and subject_id in response.get_json()["detail"]
    with app.app_context():
        from ecrf.db import database
        assert database().records.count_documents({}) == 0


def test_a_bad_body_for_an_unknown_subject_is_said_to_be_an_unknown_subject(staff, subject):
    path = "/studies/MINI/subjects/{}/events/SCREEN/forms/VS"
    assert staff.put(path.format("NOPE-1"), {"data": "not an object"}).status_code == 404
    assert staff.put(path.format(subject), {"data": "not an object"}).status_code == 422


@pytest.mark.parametrize("version, reason, pointer", [
    ("1", None, "/version"),
    (-1, None, "/version"),
    (True, None, "/version"),
    (None, 5, "/reason"),
    (None, "a\x00b", "/reason"),
])
def test_a_bad_version_or_reason_is_refused_before_the_database_is_read(wire_app, version, reason, pointer):
    with wire_app.app_context():
        runtime, user = study_runtime("MINI"), get_user("staff01")
        with sent_commands() as sent, pytest.raises(Invalid) as refused:
            save_record(runtime, user, "NOPE-1", "SCREEN", "VS", {"WEIGHT": 70}, version=version, reason=reason)
    assert [error.path for error in refused.value.errors] == [pointer] and sent == []
