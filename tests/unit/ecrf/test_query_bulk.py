"""Several queries answered or closed with one comment, each through its own transition; system queries need one."""

import re

import pytest
from conftest import OVERRIDDEN, login, token_in

from ecrf.db import database


def _raise(monitor, subject, item, text="Please check"):
    response = monitor.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                       "item": item, "text": text})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def three(as_user, staff, subject):
    """Three open manual queries at site 01 and one at site 02."""
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "WEIGHT": 70, "HEIGHT": 170})
    monitor = as_user("mon01")
    other = as_user("staff02").register("02")
    as_user("staff02").save(other, "SCREEN", "VS", {"VSDTC": "2026-01-05", "WEIGHT": 70})
    return {"ids": [_raise(monitor, subject, item) for item in ("/WEIGHT", "/HEIGHT", "/VSDTC")],
            "elsewhere": _raise(as_user("mon02"), other, "/WEIGHT"), "subject": subject}


def query_events(app, query_id):
    with app.app_context():
        return [e["action"] for e in database()["audit_events"].find({"stream": f"query/{query_id}"})]


def test_a_monitor_closes_several_with_one_comment_each_audited(app, as_user, three):
    response = as_user("mon01").post("/studies/MINI/query-actions",
                                     {"action": "close", "ids": three["ids"], "text": "Verified at visit"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["failed"] == [] and [q["state"] for q in body["done"]] == ["closed"] * 3
    assert all(q["messages"][-1]["text"] == "Verified at visit" for q in body["done"])
    for query_id in three["ids"]:
        assert query_events(app, query_id) == ["query_opened", "query_closed"]


def test_a_partial_failure_names_each_query_refused_and_why_and_the_others_go_through(app, as_user, three):
    monitor = as_user("mon01")
    monitor.post(f"/studies/MINI/queries/{three['ids'][0]}/close", {})
    asked = [*three["ids"], three["elsewhere"], "not-an-id"]
    body = monitor.post("/studies/MINI/query-actions", {"action": "close", "ids": asked, "text": "ok"}).get_json()
    assert [q["id"] for q in body["done"]] == three["ids"][1:]
    failed = {f["id"]: (f["status"], f["detail"]) for f in body["failed"]}
    assert failed[three["ids"][0]] == (409, "the query is already closed")
    assert failed[three["elsewhere"]][0] == 404 and failed["not-an-id"][0] == 404  # another site's is not shown
    assert query_events(app, three["elsewhere"]) == ["query_opened"]


def test_site_staff_answer_several_but_may_not_close_them(as_user, three):
    staff = as_user("staff01")
    refused = staff.post("/studies/MINI/query-actions", {"action": "close", "ids": three["ids"], "text": "done"})
    assert refused.status_code == 403
    body = staff.post("/studies/MINI/query-actions", {"action": "reply", "ids": three["ids"][:2],
                                                     "text": "As in source"}).get_json()
    assert [q["state"] for q in body["done"]] == ["answered", "answered"] and body["failed"] == []


@pytest.mark.parametrize(("body", "pointer"), [
    ({"action": "close", "ids": [], "text": "x"}, "/ids"),
    ({"action": "close", "ids": ["a"], "text": ""}, "/text"),
    ({"action": "close", "ids": ["a"]}, "/text"),
    ({"action": "delete", "ids": ["a"], "text": "x"}, "/action"),
])
def test_a_bulk_request_that_cannot_apply_is_refused_whole_naming_the_field(app, as_user, three, body, pointer):
    before = query_events(app, three["ids"][0])
    response = as_user("mon01").post("/studies/MINI/query-actions", {**body, "ids": body["ids"] and three["ids"]})
    assert response.status_code == 422
    assert pointer in [e["path"] for e in response.get_json()["errors"]]
    assert query_events(app, three["ids"][0]) == before


def test_a_locked_records_queries_are_listed_as_refused_by_the_lock(as_user, three):
    dm = as_user("dm")
    dm.post(f"/studies/MINI/subjects/{three['subject']}/events/SCREEN/forms/VS/lock", OVERRIDDEN)
    body = dm.post("/studies/MINI/query-actions", {"action": "close", "ids": three["ids"], "text": "x"}).get_json()
    assert body["done"] == [] and {f["status"] for f in body["failed"]} == {423}


def test_closing_a_system_query_needs_a_comment(staff, as_user, subject):
    staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 130})
    (query,) = staff.get(f"/studies/MINI/queries?subject={subject}").get_json()
    assert query["origin"] == "system"
    monitor = as_user("mon01")
    refused = monitor.post(f"/studies/MINI/queries/{query['id']}/close", {})
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["path"] == "/text"
    assert monitor.post(f"/studies/MINI/queries/{query['id']}/close", {"text": "  "}).status_code == 422
    closed = monitor.post(f"/studies/MINI/queries/{query['id']}/close", {"text": "Lab re-ran: ALT 31"})
    assert closed.status_code == 200 and closed.get_json()["state"] == "closed"


def test_a_manual_query_still_closes_without_a_comment(as_user, three):
    response = as_user("mon01").post(f"/studies/MINI/queries/{three['ids'][0]}/close", {})
    assert response.status_code == 200 and response.get_json()["state"] == "closed"


def _bulk_page(client, ids, action="close", text="Checked"):
    page = client.get("/studies/MINI/queries").get_data(as_text=True)
    return client.post("/studies/MINI/queries/bulk", data={
        "csrf_token": token_in(page), "bulk_action": action, "ids": ids, "text": text,
        "next": "/studies/MINI/queries"}, follow_redirects=True)


def test_the_page_closes_the_ticked_queries_and_says_how_many(client, three):
    login(client, "mon01")
    page = _bulk_page(client, three["ids"][:2]).get_data(as_text=True)
    assert 'class="flash success" role="status"' in page and "2 queries closed" in page


def test_the_page_names_the_queries_it_could_not_change_by_label_with_a_warning(client, as_user, three):
    as_user("mon01").post(f"/studies/MINI/queries/{three['ids'][0]}/close", {})
    login(client, "mon01")
    page = _bulk_page(client, three["ids"]).get_data(as_text=True)
    assert 'class="flash warning" role="status"' in page and "1 queries were not changed" in page
    assert f"{three['subject']} · Screening · Vital signs · Weight: the query is already closed" in page


def test_the_page_refuses_a_bulk_action_without_a_comment_as_an_error_naming_the_field(client, three):
    login(client, "mon01")
    page = _bulk_page(client, three["ids"], text="").get_data(as_text=True)
    (flash,) = re.findall(r'<p class="flash error" role="alert">.*?</p>', page, re.S)
    assert "Comment: a message is required" in flash and "/text" not in flash
