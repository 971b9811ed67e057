"""The SAE timeline on a fake clock: awareness -> due -> overdue -> submitted -> acknowledged -> follow-up ->
closed; every state change an audit event; a transition out of turn is 409 and stores nothing."""

import datetime as dt

import pytest
from conftest import PASSWORD
from sae_fixtures import safety_reviewer, serious_event

from ecrf.db import database
from ecrf.integrity import verify_all
from ecrf.safety import clock
from ecrf.safety.reports import SaeReport, list_reports, overdue_by_site, report_trail
from ecrf.studies import study_runtime
from ecrf.users import get_user

SAE = "/studies/CD7_CART_SAA/sae"
COMPLETE = {"expectedness": "unexpected", "narrative": "Fever 39.5 °C on day 12, admitted; cultures negative.",
            "treatments": "Cefepime IV"}
# The site (Asia/Shanghai) learned of the event at 08:00 on 1 March: 00:00 UTC.
AWARE_LOCAL, AWARE_UTC = "2026-03-01T08:00", dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def safety(cd7_app):
    return safety_reviewer(cd7_app)


@pytest.fixture
def serious(cd7):
    return serious_event(cd7)


class FakeClock:
    """A clock that stands still until moved."""

    def __init__(self, at: dt.datetime):
        self.at = at

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, **span) -> None:
        self.at += dt.timedelta(**span)


def listed(app, user, now):
    with app.app_context():
        return list_reports(study_runtime("CD7_CART_SAA"), get_user(user), now=now)


def actions(app, report_id):
    with app.app_context():
        return [e["action"] for e in report_trail(SaeReport.objects.get(report_id=report_id))]


def test_the_initial_report_is_due_24_hours_after_awareness_and_overdue_after(cd7_app, cd7, safety, serious):
    subject, report = serious
    staff = cd7("staff01")
    body = staff.put(f"{SAE}/{report}", {"content": {"awareness_at": AWARE_LOCAL}, "version": 1}).get_json()
    assert body["awareness_at"] == "2026-03-01T00:00:00.000Z" and body["due_at"] == "2026-03-02T00:00:00.000Z"
    fake = FakeClock(AWARE_UTC)
    fake.advance(hours=23, minutes=30)
    (draft,) = listed(cd7_app, "safety", fake.now())
    assert not draft.is_overdue(fake.now()) and clock.hours_minutes(draft.remaining(fake.now())) == (0, 30)
    fake.advance(hours=1)
    (late,) = listed(cd7_app, "safety", fake.now())
    assert late.is_overdue(fake.now()) and clock.hours_minutes(late.remaining(fake.now())) == (0, 30)
    assert overdue_by_site([late], fake.now()) == {"01": 1}


def test_the_whole_timeline_with_each_step_audited(cd7_app, cd7, safety, serious):
    subject, report = serious
    staff, inv = cd7("staff01"), cd7("inv01")
    staff.put(f"{SAE}/{report}", {"content": {"awareness_at": AWARE_LOCAL}})
    refused = inv.post(f"{SAE}/{report}/submit", {"password": PASSWORD})
    assert refused.status_code == 422
    assert {e["path"] for e in refused.get_json()["errors"]} == {"/expectedness", "/narrative"}
    staff.put(f"{SAE}/{report}", {"content": COMPLETE})
    assert inv.post(f"{SAE}/{report}/submit", {"password": "wrong password"}).status_code == 401
    assert staff.post(f"{SAE}/{report}/submit", {"password": PASSWORD}).status_code == 403
    submitted = inv.post(f"{SAE}/{report}/submit", {"password": PASSWORD}).get_json()
    assert submitted["state"] == "submitted" and submitted["due_at"] is None and not submitted["overdue"]
    assert submitted["signature"]["by"] == "inv01" and submitted["submissions"] == 1

    assert staff.post(f"{SAE}/{report}/acknowledge", {}).status_code == 403
    assert safety.post(f"{SAE}/{report}/close", {}).status_code == 409
    acknowledged = safety.post(f"{SAE}/{report}/acknowledge", {"text": "Received"}).get_json()
    assert acknowledged["state"] == "acknowledged" and acknowledged["message"]["text"] == "Received"
    assert safety.post(f"{SAE}/{report}/acknowledge", {}).status_code == 409

    followup = safety.post(f"{SAE}/{report}/followup", {"text": "Send the culture results"}).get_json()
    assert followup["state"] == "followup_requested" and followup["due_at"] == followup["followup_due_at"]
    due = dt.datetime.fromisoformat(followup["due_at"])
    assert not clock.overdue(due, due) and clock.overdue(due, due + dt.timedelta(minutes=1))
    staff.put(f"{SAE}/{report}", {"content": {"narrative": COMPLETE["narrative"] + " Blood cultures: no growth."}})
    again = inv.post(f"{SAE}/{report}/submit", {"password": PASSWORD}).get_json()
    assert again["state"] == "submitted" and again["submissions"] == 2
    safety.post(f"{SAE}/{report}/acknowledge", {})
    closed = safety.post(f"{SAE}/{report}/close", {"text": "Complete"}).get_json()
    assert closed["state"] == "closed" and closed["closed_at"] is not None
    assert staff.put(f"{SAE}/{report}", {"content": {"treatments": "more"}}).status_code == 409
    assert actions(cd7_app, report) == [
        "sae_opened", "sae_updated", "sae_updated", "sae_submitted", "sae_acknowledged", "sae_followup_requested",
        "sae_updated", "sae_submitted", "sae_acknowledged", "sae_closed"]


def test_an_invalid_transition_stores_nothing(cd7_app, cd7, safety, serious):
    _, report = serious
    before = actions(cd7_app, report)
    for action in ("acknowledge", "close"):
        assert safety.post(f"{SAE}/{report}/{action}", {}).status_code == 409
    assert safety.post(f"{SAE}/{report}/followup", {"text": "?"}).status_code == 409
    assert actions(cd7_app, report) == before


def test_bad_content_is_refused_naming_each_field_and_a_stale_version_is_409(cd7, serious):
    _, report = serious
    staff = cd7("staff01")
    bad = staff.put(f"{SAE}/{report}", {"content": {"outcome": "better", "onset_date": "1 March", "colour": "red"}})
    assert bad.status_code == 422
    assert {e["path"] for e in bad.get_json()["errors"]} == {"/outcome", "/onset_date", "/colour"}
    assert staff.put(f"{SAE}/{report}", {"content": {"treatments": "x"}, "version": 7}).status_code == 409
    for awareness in (None, "2999-01-01T08:00", "soon"):
        refused = staff.put(f"{SAE}/{report}", {"content": {"awareness_at": awareness}})
        assert refused.status_code == 422 and refused.get_json()["errors"][0]["path"] == "/awareness_at", awareness
    assert staff.get(f"{SAE}/{report}").get_json()["version"] == 1


def test_the_list_puts_overdue_first_and_each_user_sees_only_their_sites(cd7_app, cd7, safety, serious):
    _, first = serious
    other = cd7("staff02")
    subject = other.register(site="02")
    other.save(subject, "LOGS", "DEATH", {"DTHDTC": "2026-03-02", "DTHCAUSE": "infection"})
    (second,) = other.get(SAE).get_json()
    cd7("staff01").put(f"{SAE}/{first}", {"content": {"awareness_at": AWARE_LOCAL}})
    now = AWARE_UTC + dt.timedelta(hours=30)  # the site-01 report is 6 h overdue; site 02 learned of its one now
    reports = listed(cd7_app, "safety", now)
    assert [r.report_id for r in reports][0] == first and {r.report_id for r in reports} == {first, second["id"]}
    assert overdue_by_site(reports, now) == {"01": 1}
    assert [r["id"] for r in cd7("staff01").get(SAE).get_json()] == [first]
    assert cd7("staff01").get(f"{SAE}/{second['id']}").status_code == 404
    assert [r["id"] for r in safety.get(f"{SAE}?site=02").get_json()] == [second["id"]]


def test_the_safety_reviewer_sees_reports_but_no_clinical_data(safety, serious):
    subject, report = serious
    assert safety.get(f"{SAE}/{report}").get_json()["subject"] == subject
    assert safety.get(f"/studies/CD7_CART_SAA/subjects/{subject}").status_code == 403


def test_a_report_carries_exactly_the_fields_the_api_description_lists(cd7, serious):
    _, report = serious
    staff = cd7("staff01")
    described = staff.get("/openapi.json").get_json()["components"]["schemas"]["SaeReport"]
    assert set(staff.get(f"{SAE}/{report}").get_json()) == set(described["properties"]) == set(described["required"])


def test_audit_verify_holds_over_a_whole_timeline_and_names_a_tampered_or_orphaned_report(cd7_app, cd7, safety,
                                                                                        serious):
    _, report = serious
    with cd7_app.app_context():
        assert verify_all() == []  # a draft just opened
    cd7("staff01").put(f"{SAE}/{report}", {"content": COMPLETE})
    cd7("inv01").post(f"{SAE}/{report}/submit", {"password": PASSWORD})
    safety.post(f"{SAE}/{report}/acknowledge", {})
    with cd7_app.app_context():
        assert verify_all() == []
        database().sae_reports.update_one({"_id": report}, {"$set": {"state": "closed"}})
        database().sae_reports.insert_one({"_id": "0" * 16, "study": "CD7_CART_SAA", "state": "draft"})
        found = [(p.stream, p.message) for p in verify_all()]
    assert (f"sae/CD7_CART_SAA/{report}", "field 'state' is 'closed' in sae_reports, 'acknowledged' in the stream") \
        in found
    assert (f"sae/CD7_CART_SAA/{'0' * 16}", "sae_reports document has no audit stream (events deleted)") in found
