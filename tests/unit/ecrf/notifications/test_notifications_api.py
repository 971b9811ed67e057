"""/api/v1/notifications: the caller's inbox, read marks and preferences; bad input named, nothing half stored."""

from __future__ import annotations

from conftest import login, token_in

from ecrf.notifications import notifier


def _query_for_staff01(app, as_user, subject):
    as_user("mon01").post("/studies/MINI/queries", {
        "subject": subject, "event": "SCREEN", "form": "VS", "item": "/HEIGHT", "text": "Source says 171?"})
    with app.app_context():
        notifier.run(app.config["ECRF"])


def test_the_inbox_lists_the_callers_own_and_marks_them_read(app, as_user, saved):
    _query_for_staff01(app, as_user, saved)
    staff = as_user("staff01")
    inbox = staff.get("/notifications").get_json()
    assert inbox["unread"] == 1 and [(n["kind"], n["subject"], n["read"]) for n in inbox["items"]] == [
        ("query_opened", saved, False)]
    assert as_user("staff02").get("/notifications").get_json()["total"] == 0
    answer = staff.post("/notifications/read", {"ids": [inbox["items"][0]["id"]]})
    assert answer.status_code == 200 and answer.get_json() == {"marked": 1, "unread": 0}
    assert staff.get("/notifications?unread=1").get_json()["items"] == []
    assert as_user("inv01").get("/notifications").get_json()["unread"] == 1  # another's stays unread


def test_marking_read_refuses_anything_but_a_list_of_ids(as_user):
    answer = as_user("staff01").post("/notifications/read", {"ids": "all"})
    assert answer.status_code == 422 and answer.get_json()["errors"][0]["path"] == "/ids"


def test_preferences_round_trip_and_a_bad_body_stores_nothing(as_user):
    staff = as_user("staff01")
    assert staff.get("/notifications/preferences").get_json()["choices"]["sae_opened"] == "email"
    done = staff.put("/notifications/preferences", {"email": "s@example.org", "choices": {"query_opened": "digest"}})
    assert done.status_code == 200
    assert done.get_json()["email"] == "s@example.org" and done.get_json()["choices"]["query_opened"] == "digest"
    bad = staff.put("/notifications/preferences", {"email": "x@example.org", "choices": {"query_opened": "pigeon"}})
    assert bad.status_code == 422 and [e["path"] for e in bad.get_json()["errors"]] == ["/choices/query_opened"]
    bad_mail = staff.put("/notifications/preferences", {"email": "not an address", "choices": {"lab_grade": "email"}})
    assert bad_mail.status_code == 422 and bad_mail.get_json()["errors"][0]["path"] == "/email"
    kept = staff.get("/notifications/preferences").get_json()
    assert kept["email"] == "s@example.org" and kept["choices"]["lab_grade"] == "inbox"


def test_the_header_counts_unread_and_the_pages_mark_read_and_save_preferences(app, client, as_user, saved):
    _query_for_staff01(app, as_user, saved)
    login(client, "staff01")
    page = client.get("/notifications").get_data(as_text=True)
    assert 'class="nav-count">1<' in page and "New query at my sites" in page
    key = as_user("staff01").get("/notifications").get_json()["items"][0]["id"]
    opened = client.get(f"/notifications/{key}")
    assert opened.status_code == 302 and f"/subjects/{saved}/events/SCREEN/forms/VS" in opened.location
    assert "nav-count" not in client.get("/notifications").get_data(as_text=True)
    form = client.get("/account/notifications").get_data(as_text=True)
    saved_prefs = client.post("/account/notifications", data={
        "csrf_token": token_in(form), "email": "bad", "kind:query_opened": "email"}, follow_redirects=True)
    assert "must be one e-mail address" in saved_prefs.get_data(as_text=True)
    client.post("/account/notifications", data={"csrf_token": token_in(form), "email": "s1@example.org",
                                                **{f"kind:{k}": "digest" for k in ("query_opened",)},
                                                **{f"kind:{k}": "inbox" for k in (
                                                    "query_answered", "sae_opened", "sae_submitted", "sae_overdue",
                                                    "visit_overdue", "lab_grade", "record_unlocked")}})
    prefs = as_user("staff01").get("/notifications/preferences").get_json()
    assert prefs["email"] == "s1@example.org" and prefs["choices"]["query_opened"] == "digest"


def test_another_users_notification_is_not_found(app, client, as_user, saved):
    _query_for_staff01(app, as_user, saved)
    key = as_user("inv01").get("/notifications").get_json()["items"][0]["id"]
    login(client, "staff01")
    assert client.get(f"/notifications/{key}").status_code == 404
