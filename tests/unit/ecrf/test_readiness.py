"""Readiness: what stands against signing, freezing or locking, per scope; a reason to proceed anyway, in the trail."""

import pytest
from conftest import PASSWORD

from ecrf.trail import audit_store

OBSTACLES = "/studies/MINI/obstacles"


def found(api, step, **scope) -> set[tuple]:
    """The obstacles as ``(kind, event, form, item label)``."""
    answer = api.get(OBSTACLES, query_string={"step": step, **scope})
    assert answer.status_code == 200, answer.get_json()
    return {(o["kind"], o["event"], o["form"], o.get("item") and o["label"]) for o in answer.get_json()["obstacles"]}


@pytest.fixture
def troubled(as_user, staff, saved):
    """SCREEN: VS complete with an open manual query on its weight; DM missing its birth date; LB not started."""
    changed = staff.save(saved, "SCREEN", "DM", {"SEX": "M", "BRTHDTC": None}, version=1,
                         reason="birth date unknown")
    assert changed.status_code == 200, changed.get_json()
    raised = as_user("mon01").post("/studies/MINI/queries", {"subject": saved, "event": "SCREEN", "form": "VS",
                                                              "item": "/WEIGHT", "text": "Please check"})
    assert raised.status_code == 201, raised.get_json()
    return saved


# Which kinds stand against which step at which scope, for the ``troubled`` subject.
TABLE = {
    ("sign", "form VS"): {"open_query", "not_verified"},
    ("sign", "form DM"): {"missing_item", "not_verified"},
    ("sign", "visit"): {"open_query", "missing_item", "not_started", "not_verified"},
    ("freeze", "visit"): {"open_query", "missing_item", "not_started"},
    ("lock", "form VS"): {"open_query", "not_verified", "unsigned"},
    ("lock", "casebook"): {"open_query", "missing_item", "not_started", "not_verified", "unsigned"},
    ("lock", "study"): {"open_query", "missing_item", "not_started", "not_verified", "unsigned"},
}
SCOPES = {"form VS": {"event": "SCREEN", "form": "VS"}, "form DM": {"event": "SCREEN", "form": "DM"},
          "visit": {"event": "SCREEN"}, "casebook": {}, "study": None}


@pytest.mark.parametrize(("step", "scope"), TABLE)
def test_each_kind_of_obstacle_stands_against_the_steps_it_should(as_user, staff, troubled, step, scope):
    where = SCOPES[scope]
    where = {} if where is None else {"subject": troubled, **where}
    assert {kind for kind, *_ in found(as_user("dm"), step, **where)} == TABLE[(step, scope)]


def test_obstacles_name_the_item_the_form_and_the_visit(as_user, troubled):
    listed = found(as_user("dm"), "sign", subject=troubled, event="SCREEN")
    assert ("open_query", "SCREEN", "VS", listed and next(o[3] for o in listed if o[0] == "open_query")) in listed
    assert ("missing_item", "SCREEN", "DM", next(o[3] for o in listed if o[0] == "missing_item")) in listed
    assert ("not_started", "SCREEN", "LB", None) in listed
    items = {o[3] for o in listed if o[3]}
    assert all(label and not label.startswith("/") for label in items)


def test_a_clean_record_meets_no_obstacle_and_a_later_visit_not_reached_expects_nothing(as_user, staff, saved):
    mon, inv, dm = as_user("mon01"), as_user("inv01"), as_user("dm")
    assert mon.post(staff.record_path(saved, "SCREEN", "VS") + "/sdv", {}).status_code == 200
    assert found(inv, "sign", subject=saved, event="SCREEN", form="VS") == set()
    assert inv.post(staff.record_path(saved, "SCREEN", "VS") + "/sign", {"password": PASSWORD}).status_code == 201
    assert found(dm, "lock", subject=saved, event="SCREEN", form="VS") == set()
    # The casebook expects the forms of the visits reached (SCREEN), not those of D28 nor the log.
    assert {(k, e, f) for k, e, f, _ in found(dm, "freeze", subject=saved)} == {("not_started", "SCREEN", "LB")}


def test_signing_despite_obstacles_needs_a_reason_kept_in_the_signature_event(as_user, staff, troubled):
    inv = as_user("inv01")
    path = f"/studies/MINI/subjects/{troubled}/events/SCREEN/sign"
    refused = inv.post(path, {"password": PASSWORD})
    assert refused.status_code == 409
    problem = refused.get_json()
    assert {o["kind"] for o in problem["obstacles"]} == TABLE[("sign", "visit")]
    assert problem["errors"][0]["path"] == "/override_reason"
    assert inv.get(f"/studies/MINI/subjects/{troubled}/signatures").get_json() == []
    blank = inv.post(path, {"password": PASSWORD, "override_reason": "  "})
    assert blank.status_code == 409
    signed = inv.post(path, {"password": PASSWORD, "override_reason": "Queries answered on paper; PI away"})
    assert signed.status_code == 201, signed.get_json()
    assert signed.get_json()["override_reason"] == "Queries answered on paper; PI away"
    event = audit_store().events(f"signature/MINI/{troubled}/{signed.get_json()['id']}")[0]
    assert event["reason"] == "Queries answered on paper; PI away"
    assert event["state"]["signature"]["override"]["counts"]["open_query"] == 1


def test_locking_despite_obstacles_needs_a_reason_kept_in_each_lock_event(as_user, staff, troubled):
    dm = as_user("dm")
    path = staff.record_path(troubled, "SCREEN", "VS") + "/lock"
    refused = dm.post(path, {})
    assert refused.status_code == 409 and refused.get_json()["obstacles"][0]["label"]
    assert dm.get(staff.record_path(troubled, "SCREEN", "VS")).get_json()["lifecycle"] != "locked"
    locked = dm.post(path, {"override_reason": "Database lock date agreed with sponsor"})
    assert locked.status_code == 200 and locked.get_json()["lifecycle"] == "locked"
    last = audit_store().events(f"record/MINI/{troubled}/SCREEN/VS")[-1]
    assert last["action"] == "lock" and last["reason"] == "Database lock date agreed with sponsor"
    assert last["state"]["locked"]["override"]["counts"] == {"open_query": 1, "not_verified": 1, "unsigned": 1}


def test_a_casebook_lock_keeps_the_reason_in_the_subject_event_and_unlock_meets_no_obstacle(as_user, troubled):
    dm = as_user("dm")
    base = f"/studies/MINI/subjects/{troubled}"
    assert dm.post(base + "/lock", {}).status_code == 409
    locked = dm.post(base + "/lock", {"override_reason": "Subject withdrew consent"})
    assert locked.status_code == 200 and locked.get_json()["records"] == 2
    subject_event = audit_store().events(f"subject/MINI/{troubled}")[-1]
    assert subject_event["action"] == "lock" and subject_event["state"]["details"]["override"]["reason"]
    assert dm.post(base + "/unlock", {"reason": "reopened"}).status_code == 200


def test_a_reason_that_is_not_text_is_refused_by_name(as_user, troubled):
    answer = as_user("dm").post(f"/studies/MINI/subjects/{troubled}/lock", {"override_reason": 7})
    assert answer.status_code == 422 and "/override_reason" in str(answer.get_json())
    bad_step = as_user("dm").get(OBSTACLES, query_string={"step": "delete"})
    assert bad_step.status_code == 422 and bad_step.get_json()["errors"][0]["path"] == "/step"
