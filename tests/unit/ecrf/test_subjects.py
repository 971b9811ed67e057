"""A subject is the projection of its audit stream: registration appends first, enrollment moves both."""

from __future__ import annotations

import datetime as dt

import pytest
from synthetic import form_data

INFUSION = dt.date(2026, 3, 2)
SCREENING = ["IC", "DM", "SAAHX", "VS", "ECOG", "LB_HEM", "LB_CHEM", "LB_VIRO", "ECHO", "BM", "IE"]


@pytest.fixture
def staff(cd7):
    return cd7("staff01")


def stream_events(app, subject: str) -> list[dict]:
    with app.app_context():
        from ecrf.trail import audit_store, subject_stream
        return audit_store().events(subject_stream("CD7_CART_SAA", subject))


def stored_subject(app, subject: str) -> dict:
    with app.app_context():
        from ecrf.db import database
        return database().subjects.find_one({"_id": f"CD7_CART_SAA/{subject}"})


def screen(staff, subject: str) -> None:
    visit = (INFUSION - dt.timedelta(days=20)).isoformat()
    for form in SCREENING:
        data = {k: v for k, v in form_data(form, "SCREEN", visit, infusion=INFUSION).items() if v is not None}
        assert staff.save(subject, "SCREEN", form, data).status_code == 201, form


def test_registration_is_audited_first_and_the_subject_carries_its_stream_head(staff, cd7_app):
    subject = staff.register()
    events = stream_events(cd7_app, subject)
    stored = stored_subject(cd7_app, subject)
    assert [e["action"] for e in events] == ["subject_registered"]
    assert (stored["version"], stored["head"]) == (1, events[0]["hash"])
    assert stored["created_at"].replace(tzinfo=None) == events[0]["at"].replace(tzinfo=None)


def test_an_id_already_in_the_audit_trail_is_not_registered_twice(staff, cd7_app):
    subject = staff.register(subject_id="X-1")
    response = staff.post("/studies/CD7_CART_SAA/subjects", {"site": "01", "subject_id": subject})
    assert response.status_code == 409
    assert len(stream_events(cd7_app, subject)) == 1


def test_a_subject_whose_document_was_never_stored_is_restored_from_its_stream(staff, cd7_app):
    subject = staff.register()
    with cd7_app.app_context():
        from ecrf.db import database
        database().subjects.delete_one({"_id": f"CD7_CART_SAA/{subject}"})  # as if the process died after the append
    body = staff.get(f"/studies/CD7_CART_SAA/subjects/{subject}").get_json()
    assert body["subject_id"] == subject and body["site"] == "01" and body["status"] == "screening"
    assert stored_subject(cd7_app, subject)["version"] == 1


def test_enrollment_appends_on_the_subjects_head_and_moves_it(staff, cd7_app):
    subject = staff.register()
    screen(staff, subject)
    events = stream_events(cd7_app, subject)
    stored = stored_subject(cd7_app, subject)
    assert [e["action"] for e in events] == ["subject_registered", "subject_status"]
    assert (stored["status"], stored["version"], stored["head"]) == ("enrolled", 2, events[-1]["hash"])
    with cd7_app.app_context():
        from ecrf.trail import audit_store, subject_stream
        assert audit_store().verify_stream(subject_stream("CD7_CART_SAA", subject), events) == []


@pytest.mark.parametrize("lag", ["behind", "from before versions"])
def test_enrollment_takes_the_streams_word_when_the_subject_document_lags(staff, cd7_app, lag):
    subject = staff.register()
    with cd7_app.app_context():
        from ecrf.db import database
        change = {"$set": {"version": 0}} if lag == "behind" else {"$unset": {"version": "", "head": ""}}
        database().subjects.update_one({"_id": f"CD7_CART_SAA/{subject}"}, change)
    screen(staff, subject)
    events = stream_events(cd7_app, subject)
    assert [e["seq"] for e in events] == [1, 2]
    stored = stored_subject(cd7_app, subject)
    assert (stored["status"], stored["version"], stored["head"]) == ("enrolled", 2, events[-1]["hash"])


def test_the_save_that_enrolls_appends_the_record_and_the_status_events_in_one_write(staff, cd7_app, monkeypatch):
    from audit import AuditStore

    subject = staff.register()
    visit = (INFUSION - dt.timedelta(days=20)).isoformat()
    for form in SCREENING[:-1]:
        data = {k: v for k, v in form_data(form, "SCREEN", visit, infusion=INFUSION).items() if v is not None}
        assert staff.save(subject, "SCREEN", form, data).status_code == 201, form
    writes, append_all = [], AuditStore.append_all
    monkeypatch.setattr(AuditStore, "append_all",
                        lambda store,
                        appends: writes.append([a["stream"] for a in appends]) or append_all(store, appends))
    monkeypatch.setattr(AuditStore, "append", lambda *a, **k: pytest.fail("a second write for the status event"))
    ie = {k: v for k, v in form_data("IE", "SCREEN", visit, infusion=INFUSION).items() if v is not None}
    assert staff.save(subject, "SCREEN", "IE", ie).status_code == 201
    assert writes == [[f"record/CD7_CART_SAA/{subject}/SCREEN/IE", f"subject/CD7_CART_SAA/{subject}"]]
    events = stream_events(cd7_app, subject)
    assert [e["action"] for e in events] == ["subject_registered", "subject_status"]
    assert stored_subject(cd7_app, subject)["status"] == "enrolled"
