"""/api/v1/users and /api/v1/access-review (issue 21): every administrator action through the API, audited."""

from user_admin import events, verify_clean

from ecrf.users import authenticate


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
