"""The administrator's user pages (issue 21): every change needs its reason where an auditor asks why, is an event
with actor, reason and before -> after; role changes end sessions; only an administrator gets in, and an
administrator reads no clinical data."""

import re

import pytest
from conftest import Api, login, token_in
from user_admin import act, admin_page, events, last_event, secret_in, verify_clean

from ecrf.users import authenticate, get_user


def test_a_role_change_needs_a_reason_and_stores_nothing_without_one(app):
    admin = admin_page(app)
    count = len(events(app, "staff01"))
    refused = act(admin, "staff01", "role", {"role-role": "investigator", "role-sites": ["01"], "role-reason": ""})
    assert refused.status_code == 422 and "Give a reason" in refused.get_data(as_text=True)
    assert len(events(app, "staff01")) == count
    with app.app_context():
        assert get_user("staff01").role == "site_staff"


def test_a_role_change_is_audited_before_and_after_and_ends_the_users_sessions(app):
    user = app.test_client()
    login(user, "staff01")
    assert user.get("/studies/MINI/subjects").status_code == 200
    done = act(admin_page(app), "staff01", "role", {"role-role": "investigator", "role-sites": ["01", "02"],
                                                    "role-reason": "delegation log entry 14"})
    assert done.status_code == 302
    answer = user.get("/studies/MINI/subjects")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    event = last_event(app, "staff01")
    assert (event["action"], event["actor"], event["reason"]) == ("user_role_changed", "root",
                                                                  "delegation log entry 14")
    assert event["changes"] == [{"path": "/role", "old": "site_staff", "new": "investigator"},
                                {"path": "/sites", "old": ["01"], "new": ["01", "02"]}]
    verify_clean(app)


@pytest.mark.parametrize("action, data, check", [
    ("disable", {"reason": "left the study"}, lambda u: not u.active),
    ("sign-out", {}, lambda u: u.session_generation == 1),
    ("revoke-tokens", {"reason": "laptop lost"}, lambda u: True),
    ("unlock", {}, lambda u: u.failed_logins == 0),
])
def test_each_account_action_is_an_audited_event_by_the_administrator(app, action, data, check):
    assert act(admin_page(app), "staff01", action, data).status_code == 302
    with app.app_context():
        assert check(get_user("staff01"))
    event = last_event(app, "staff01")
    assert event["actor"] == "root" and event["reason"] == (data.get("reason"))
    assert event["action"] == {"disable": "user_disabled", "sign-out": "sessions_ended",
                               "revoke-tokens": "tokens_revoked", "unlock": "account_unlocked"}[action]


def test_disable_then_enable_each_need_a_reason_and_record_active_before_and_after(app):
    admin = admin_page(app)
    assert act(admin, "staff01", "disable", {}).status_code == 422
    assert act(admin, "staff01", "disable", {"reason": "on leave"}).status_code == 302
    assert act(admin, "staff01", "enable", {"reason": "back from leave"}).status_code == 302
    disabled, enabled = events(app, "staff01")[-2:]
    assert disabled["changes"] == [{"path": "/active", "old": True, "new": False}]
    assert (enabled["action"], enabled["reason"]) == ("user_enabled", "back from leave")
    assert enabled["changes"] == [{"path": "/active", "old": False, "new": True}]
    assert Api(app.test_client(), app.tokens["staff01"]).get("/studies").status_code == 401  # revoked on disable


def test_an_administrator_cannot_lock_themselves_out(app):
    admin = admin_page(app)
    for action, data in (("disable", {"reason": "x"}), ("reset-password", {"reason": "x"}),
                         ("role", {"role-role": "monitor", "role-sites": ["01"], "role-reason": "x"})):
        assert act(admin, "root", action, data).status_code == 409, action
    with app.app_context():
        root = get_user("root")
        assert root.active and root.role == "admin" and not root.must_change_password


def test_creating_a_user_without_a_password_shows_a_one_time_password_once(app):
    admin = admin_page(app)
    page = admin.get("/admin/users").get_data(as_text=True)
    created = admin.post("/admin/users", data={"csrf_token": token_in(page), "user-username": "newmon",
                                               "user-full_name": "New Monitor", "user-role": "monitor",
                                               "user-sites": ["02"], "user-reason": "joins the study"})
    assert created.status_code == 200
    otp = secret_in(created.get_data(as_text=True))
    assert "new-secret" not in admin.get("/admin/users/newmon").get_data(as_text=True)
    with app.app_context():
        assert get_user("newmon").must_change_password
        assert authenticate("newmon", otp).role == "monitor"
    assert [e["action"] for e in events(app, "newmon")] == ["user_created", "password_reset", "login"]
    assert events(app, "newmon")[0]["reason"] == "joins the study"


def test_the_users_page_lists_role_sites_status_and_last_sign_in(app):
    login(app.test_client(), "staff01")
    admin = admin_page(app)
    assert admin.get("/admin/users/nobody").status_code == 404
    page = admin.get("/admin/users").get_data(as_text=True)
    row = re.search(r'<tr data-user="staff01">.*?</tr>', page, re.S).group(0)
    assert "site_staff" in row and "01" in row and "active" in row and "UTC" in row
    dm_row = re.search(r'<tr data-user="dm">.*?</tr>', page, re.S).group(0)
    assert "all sites" in dm_row and "never" in dm_row


def test_an_administrator_is_refused_every_clinical_page_and_route(app, as_user):
    subject = as_user("staff01").register("01")
    admin = admin_page(app)
    for path in ("/studies/MINI/subjects", f"/studies/MINI/subjects/{subject}", "/studies/MINI/queries",
                 f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS", "/studies/MINI/exports",
                 f"/studies/MINI/subjects/{subject}/audit"):
        assert admin.get(path).status_code == 403, path
    api = as_user("root")
    for path in ("/studies/MINI/subjects", f"/studies/MINI/subjects/{subject}", "/studies/MINI/queries",
                 f"/studies/MINI/subjects/{subject}/audit", "/studies/MINI/export/csv"):
        assert api.get(path).status_code == 403, path


def test_only_an_administrator_reaches_the_user_pages_and_the_access_review(app):
    for name in ("staff01", "dm", "mon01"):
        client = app.test_client()
        login(client, name)
        for path in ("/admin/users", "/admin/users/staff01", "/admin/access-review", "/admin/access-review.csv"):
            assert client.get(path).status_code == 403, (name, path)
        api = Api(app.test_client(), app.tokens[name])
        assert api.get("/users").status_code == 403
        assert api.post("/users/staff01/disable", {"reason": "x"}).status_code == 403
    with app.app_context():
        assert get_user("staff01").active
