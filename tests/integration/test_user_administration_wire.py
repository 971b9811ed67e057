"""User administration on the real wire-protocol server: each administrator action through the API writes its
audit event (actor, reason, before -> after); a reset password must be changed before anything else; a role
change ends the user's sessions; the access review CSV folds every grant from the trail; verify stays clean."""

import csv
import io

import pytest
from conftest import PASSWORD, Api, login, token_in

pytestmark = pytest.mark.integration
NEW_PASSWORD = "quiet otter unfolds maps"


def user_events(app, username: str) -> list[dict]:
    with app.app_context():
        from ecrf.db import database
        return list(database().audit_events.find({"stream": f"user/{username}"}, sort=[("seq", 1)]))


def test_each_administrator_action_writes_its_audit_event(wire_app):
    app = wire_app
    root = Api(app.test_client(), app.tokens["root"])
    calls = [
        ("/users/inv01/role", {"role": "investigator", "sites": ["01", "02"], "reason": "second site"},
         "user_role_changed", [{"path": "/role", "old": "investigator", "new": "investigator"},
                               {"path": "/sites", "old": ["01"], "new": ["01", "02"]}]),
        ("/users/inv01/disable", {"reason": "on leave"}, "user_disabled",
         [{"path": "/active", "old": True, "new": False}]),
        ("/users/inv01/enable", {"reason": "back"}, "user_enabled", [{"path": "/active", "old": False, "new": True}]),
        ("/users/inv01/reset-password", {"reason": "forgot"}, "password_reset",
         [{"path": "/must_change_password", "old": False, "new": True}]),
        ("/users/inv01/unlock", {"reason": "checked"}, "account_unlocked", []),
        ("/users/inv01/revoke-tokens", {"reason": "rotation"}, "tokens_revoked", []),
        ("/users/inv01/sign-out", {"reason": "shared screen"}, "sessions_ended", []),
    ]
    for path, body, action, changes in calls:
        answer = root.post(path, body)
        assert answer.status_code == 200, (path, answer.get_json())
        event = user_events(app, "inv01")[-1]
        assert (event["action"], event["actor"], event["reason"], event["changes"]) == (
            action, "root", body["reason"], changes), path
    assert Api(app.test_client(), app.tokens["inv01"]).get("/studies").status_code == 401  # revoked
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_a_reset_password_is_changed_before_anything_else_and_then_spent(wire_app):
    app = wire_app
    root = Api(app.test_client(), app.tokens["root"])
    otp = root.post("/users/staff01/reset-password", {"reason": "forgot"}).get_json()["one_time_password"]
    staff_api = Api(app.test_client(), app.tokens["staff01"])
    assert staff_api.get("/studies/MINI/subjects").status_code == 403

    browser = app.test_client()
    assert login(browser, "staff01", otp).status_code == 302
    forced = browser.get("/studies/MINI/subjects")
    assert forced.status_code == 302 and forced.headers["Location"].endswith("/account/password")
    page = browser.get("/account/password").get_data(as_text=True)
    changed = browser.post("/account/password", data={"csrf_token": token_in(page), "current": otp,
                                                      "new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert changed.status_code == 302
    assert browser.get("/studies/MINI/subjects").status_code == 200
    assert staff_api.get("/studies/MINI/subjects").status_code == 200
    assert login(app.test_client(), "staff01", otp).status_code == 401
    assert login(app.test_client(), "staff01", PASSWORD).status_code == 401
    assert root.get("/users/staff01").get_json()["status"] == "active"


def test_a_role_change_ends_an_existing_session(wire_app):
    app = wire_app
    browser = app.test_client()
    login(browser, "mon01")
    assert browser.get("/studies/MINI/subjects").status_code == 200
    root = Api(app.test_client(), app.tokens["root"])
    assert root.post("/users/mon01/role", {"role": "monitor", "sites": ["02"], "reason": "moved"}).status_code == 200
    answer = browser.get("/studies/MINI/subjects")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_the_access_review_csv_on_the_wire(wire_app):
    app = wire_app
    root = Api(app.test_client(), app.tokens["root"])
    root.post("/users", {"username": "auditor1", "role": "monitor", "sites": ["01"], "password": NEW_PASSWORD,
                         "reason": "@SUM(1+1) contract"})
    root.post("/users/auditor1/role", {"role": "monitor", "sites": ["02"], "reason": "site change"})
    login(app.test_client(), "auditor1", NEW_PASSWORD)
    answer = root.get("/access-review.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = [r for r in csv.DictReader(io.StringIO(answer.get_data(as_text=True))) if r["username"] == "auditor1"]
    assert [(r["role"], r["site"], r["granted_by"], r["grant_reason"], r["ended_by"], r["current"])
            for r in rows] == [("monitor", "01", "root", "'@SUM(1+1) contract", "root", "no"),
                               ("monitor", "02", "root", "site change", "", "yes")]
    assert all(r["last_login"].endswith("Z") and r["status"] == "active" for r in rows)
