"""An administrator's password reset (issue 21): a random one-time password that meets the policy, audited with
its reason; until the user changes it every page leads to the password page and their tokens answer 403."""

from conftest import PASSWORD, Api, login, token_in
from user_admin import act, admin_page, events, last_event, secret_in, verify_clean

from ecrf.passwords import password_problems
from ecrf.users import authenticate, get_user, one_time_password, reset_password

NEW_PASSWORD = "quiet otter unfolds maps"

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
