"""User administration by an administrator (issue 21, item 6): every change audited with its actor, reason and
before -> after; a password reset forces a change; role changes end sessions; an administrator sees no clinical
data; the access review folds every grant from the trail."""

import csv
import io
import re

import pytest
from conftest import PASSWORD, Api, login, token_in

from ecrf.access_review import access_review, fold_grants
from ecrf.db import database
from ecrf.passwords import password_problems
from ecrf.users import authenticate, get_user, one_time_password, reset_password

NEW_PASSWORD = "quiet otter unfolds maps"


def events(app, username: str) -> list[dict]:
    with app.app_context():
        return list(database().audit_events.find({"stream": f"user/{username}"}, sort=[("seq", 1)]))


def last_event(app, username: str) -> dict:
    return events(app, username)[-1]


def admin_page(app):
    client = app.test_client()
    login(client, "root")
    return client


def act(client, username: str, action: str, data: dict | None = None):
    page = client.get(f"/admin/users/{username}").get_data(as_text=True)
    return client.post(f"/admin/users/{username}/{action}", data={"csrf_token": token_in(page), **(data or {})})


def secret_in(page: str) -> str:
    return re.search(r'<pre id="new-secret"[^>]*>([^<]+)</pre>', page).group(1)


def verify_clean(app):
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- the one-time password


def test_a_one_time_password_is_random_and_meets_the_policy():
    made = {one_time_password("staff01", "Staff One", min_length=12) for _ in range(5)}
    assert len(made) == 5
    for password in made:
        assert len(password) >= 12 and password_problems(password, min_length=12, username="staff01") == []


def test_a_reset_password_is_audited_with_reason_and_ends_sessions_and_lockout(app):
    with app.app_context():
        before = get_user("staff01")
        password = reset_password("staff01", actor="root", reason="forgot it", min_length=8)
        after = get_user("staff01")
        assert after.must_change_password and after.session_generation == before.session_generation + 1
    event = last_event(app, "staff01")
    assert (event["action"], event["actor"], event["reason"]) == ("password_reset", "root", "forgot it")
    assert event["changes"] == [{"path": "/must_change_password", "old": False, "new": True}]
    assert password not in str(event)
    with app.app_context():
        assert authenticate("staff01", password).username == "staff01"
    verify_clean(app)


def test_after_a_reset_every_page_leads_to_the_password_page_and_tokens_answer_403(app):
    otp = secret_in(act(admin_page(app), "staff01", "reset-password", {"reason": "forgot it"}).get_data(as_text=True))
    api = Api(app.test_client(), app.tokens["staff01"])
    refused = api.get("/studies/MINI/subjects")
    assert refused.status_code == 403 and "reset" in refused.get_json()["detail"]
    assert login(app.test_client(), "staff01", PASSWORD).status_code == 401  # the old password is gone

    user = app.test_client()
    login(user, "staff01", otp)
    for path in ("/studies/MINI/subjects", "/", "/studies/MINI/queries"):
        answer = user.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/account/password"), path
    page = user.get("/account/password").get_data(as_text=True)
    assert 'id="must-change"' in page
    changed = user.post("/account/password", data={"csrf_token": token_in(page), "current": otp,
                                                   "new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert changed.status_code == 302
    assert user.get("/studies/MINI/subjects").status_code == 200
    assert api.get("/studies/MINI/subjects").status_code == 200
    assert login(app.test_client(), "staff01", otp).status_code == 401  # the one-time password is spent
    assert login(app.test_client(), "staff01", NEW_PASSWORD).status_code == 302
    assert [e["action"] for e in events(app, "staff01")][-3:] == ["password_changed", "login_failed", "login"]
    verify_clean(app)


# ---------------------------------------------------------------- role, status and the rest, on the pages


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
    page = admin_page(app).get("/admin/users").get_data(as_text=True)
    row = re.search(r'<tr data-user="staff01">.*?</tr>', page, re.S).group(0)
    assert "site_staff" in row and "01" in row and "active" in row and "UTC" in row
    dm_row = re.search(r'<tr data-user="dm">.*?</tr>', page, re.S).group(0)
    assert "all sites" in dm_row and "never" in dm_row


# ---------------------------------------------------------------- an administrator never sees clinical data


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


# ---------------------------------------------------------------- the access review


def test_grants_fold_from_the_trail_kept_pairs_keep_their_date():
    at = [f"2026-01-0{d}" for d in range(1, 4)]
    stream = [
        {"action": "user_created", "at": at[0], "actor": "root", "reason": None,
         "state": {"details": {"role": "site_staff", "sites": ["01"]}}},
        {"action": "login", "at": at[1], "actor": "u"},
        {"action": "user_role_changed", "at": at[1], "actor": "boss", "reason": "second site",
         "state": {"details": {"role": "site_staff", "sites": ["01", "02"]}}},
        {"action": "user_role_changed", "at": at[2], "actor": "boss", "reason": "promoted",
         "state": {"details": {"role": "data_manager", "sites": []}}},
    ]
    grants = [(g.role, g.site, g.granted_at, g.granted_by, g.ended_at, g.end_reason) for g in fold_grants("u", stream)]
    assert grants == [("site_staff", "01", at[0], "root", at[2], "promoted"),
                      ("site_staff", "02", at[1], "boss", at[2], "promoted"),
                      ("data_manager", "*", at[2], "boss", None, None)]


def test_the_access_review_csv_holds_every_grant_and_no_formula(app):
    act(admin_page(app), "staff01", "role", {"role-role": "investigator", "role-sites": ["02"],
                                            "role-reason": "=HYPERLINK(\"http://evil\")"})
    login(app.test_client(), "staff01")
    answer = admin_page(app).get("/admin/access-review.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment; filename=access-review-" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    staff = [r for r in rows if r["username"] == "staff01"]
    assert [(r["role"], r["site"], r["current"], r["granted_by"]) for r in staff] == [
        ("site_staff", "01", "no", "system"), ("investigator", "02", "yes", "root")]
    assert staff[0]["ended_by"] == "root" and staff[0]["end_reason"].startswith("'=HYPERLINK")
    assert staff[1]["grant_reason"].startswith("'=") and staff[1]["last_login"].endswith("Z")
    assert {r["username"] for r in rows} == {"staff01", "staff02", "inv01", "mon01", "mon02", "dm", "root"}
    assert [(r["role"], r["site"]) for r in rows if r["username"] == "dm"] == [("data_manager", "*")]
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())


def test_the_access_review_page_shows_grants_with_since_and_granted_by(app):
    act(admin_page(app), "mon01", "disable", {"reason": "left"})
    page = admin_page(app).get("/admin/access-review").get_data(as_text=True)
    row = re.search(r'<tr data-user="mon01" class="current">.*?</tr>', page, re.S).group(0)
    assert "monitor" in row and "01" in row and "system" in row and "disabled" in row and "UTC" in row
    with app.app_context():
        assert [line.status for line in access_review() if line.username == "mon01"] == ["disabled"]


# ---------------------------------------------------------------- the API


def test_the_api_runs_every_administrator_action_and_audits_it(app, as_user):
    root = as_user("root")
    created = root.post("/users", {"username": "newinv", "role": "investigator", "sites": ["01"],
                                   "full_name": "New Investigator", "reason": "joins"})
    assert created.status_code == 201 and created.get_json()["must_change_password"]
    assert len(created.get_json()["one_time_password"]) >= 8
    assert root.get("/users/newinv").get_json()["status"] == "must change password"
    assert root.post("/users/newinv/role", {"role": "site_staff", "sites": ["02"], "reason": "moved"}).get_json()[
        "sites"] == ["02"]
    assert root.post("/users/newinv/role", {"role": "site_staff", "sites": ["02"]}).status_code == 422
    assert root.post("/users/newinv/disable", {}).status_code == 422
    assert root.post("/users/newinv/disable", {"reason": "paused"}).get_json()["active"] is False
    assert root.post("/users/newinv/enable", {"reason": "resumed"}).get_json()["status"] == "must change password"
    otp = root.post("/users/newinv/reset-password", {"reason": "lost"}).get_json()["one_time_password"]
    assert root.post("/users/newinv/unlock").status_code == 200
    assert root.post("/users/newinv/revoke-tokens", {"reason": "audit"}).get_json() == {"username": "newinv",
                                                                                       "revoked": 0}
    assert root.post("/users/newinv/sign-out").status_code == 200
    assert root.get("/users/nobody").status_code == 404
    assert root.post("/users/nobody/disable", {"reason": "x"}).status_code == 404
    assert "password_hash" not in root.get("/users").get_data(as_text=True)
    actions = [(e["action"], e["actor"], e["reason"]) for e in events(app, "newinv")]
    assert actions == [("user_created", "root", "joins"), ("password_reset", "root", "initial one-time password"),
                       ("user_role_changed", "root", "moved"), ("user_disabled", "root", "paused"),
                       ("user_enabled", "root", "resumed"), ("password_reset", "root", "lost"),
                       ("account_unlocked", "root", None), ("tokens_revoked", "root", "audit"),
                       ("sessions_ended", "root", None)]
    with app.app_context():
        assert authenticate("newinv", otp).must_change_password
    review = root.get("/access-review").get_json()
    assert [(g["role"], g["site"], g["current"]) for g in review if g["username"] == "newinv"] == [
        ("investigator", "01", False), ("site_staff", "02", True)]
    assert root.get("/access-review.csv").mimetype == "text/csv"
    verify_clean(app)


# ---------------------------------------------------------------- the command line


def test_the_command_line_changes_a_role_resets_a_password_and_writes_the_review(app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "role", "mon02", "--role", "monitor", "--site", "01", "--site", "02",
                                 "--reason", "covers both sites"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["users", "role", "mon02", "--role", "monitor", "--site", "01"]).exit_code != 0
    otp = runner.invoke(args=["users", "reset-password", "mon02", "--reason", "forgot"]).output.strip()
    with app.app_context():
        assert authenticate("mon02", otp).must_change_password
    assert runner.invoke(args=["users", "unlock", "mon02"]).exit_code == 0
    assert runner.invoke(args=["users", "sign-out", "mon02", "--reason", "shared screen"]).exit_code == 0
    listed = runner.invoke(args=["users", "list"]).output
    assert "mon02\tmonitor\t01,02\tmust change password\t" in listed and "dm\tdata_manager\t*\tactive" in listed
    target = tmp_path / "review.csv"
    assert runner.invoke(args=["users", "access-review", "-o", str(target)]).exit_code == 0
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert ("monitor", "01", "cli", "covers both sites") in {
        (r["role"], r["site"], r["granted_by"], r["grant_reason"]) for r in rows if r["username"] == "mon02"}
    assert last_event(app, "mon02")["reason"] == "shared screen"
    verify_clean(app)
