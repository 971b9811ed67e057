"""Browser sessions end server-side: a copied cookie stops working after logout, password change, disable,
role or site change and an administrator's "sign out everywhere", and after the absolute lifetime.
Cookies are Secure, and HSTS sent, whenever the request came over TLS (directly or through a trusted proxy)."""

import datetime as dt

import pytest
from conftest import PASSWORD, login, make_app, token_in

PAGE = "/studies/MINI/subjects"


def copy_of_session(app, client):
    """Another browser holding a copy of ``client``'s session cookie."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def signed_out(client) -> bool:
    response = client.get(PAGE)
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 302 and "/login" in response.headers["Location"]


def post_form(client, url, data, page=PAGE):
    return client.post(url, data={"csrf_token": token_in(client.get(page).get_data(as_text=True)), **data})


def logout(app, client):
    post_form(client, "/logout", {})


def change_own_password(app, client):
    response = post_form(client, "/account/password", {"current": PASSWORD, "new": "quiet otter unfolds maps",
                                                       "confirm": "quiet otter unfolds maps"}, "/account/password")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert not signed_out(client)  # the browser that changed it carries on in a new session


def admin(app):
    client = app.test_client()
    login(client, "root")
    return client


def disable(app, client):
    assert post_form(admin(app), "/admin/users/staff01/disable", {"reason": "left the site"},
                     "/admin/").status_code == 302


def sign_out_everywhere(app, client):
    assert post_form(admin(app), "/admin/users/staff01/sign-out", {}, "/admin/").status_code == 302


def change_role(app, client):
    response = post_form(admin(app), "/admin/users/staff01/role", {"role-role": "investigator", "role-sites": ["01"],
                                                                   "role-reason": "delegation log"}, "/admin/")
    assert response.status_code == 302, response.get_data(as_text=True)


def change_sites(app, client):
    with app.app_context():
        from ecrf.users import change_role
        change_role("staff01", "site_staff", ["01", "02"], actor="root")


@pytest.mark.parametrize("end", [logout, change_own_password, disable, change_role, change_sites,
                                 sign_out_everywhere], ids=lambda end: end.__name__)
def test_a_copied_session_cookie_is_refused_once_the_session_is_ended(app, client, end):
    login(client, "staff01")
    copy = copy_of_session(app, client)
    assert not signed_out(copy)
    end(app, client)
    assert signed_out(copy)


def test_a_copied_session_cookie_works_while_nothing_ends_the_session(app, client):
    """The control for the table above: another user's changes leave this session alone."""
    login(client, "staff01")
    copy = copy_of_session(app, client)
    with app.app_context():
        from ecrf.users import change_role, end_sessions
        end_sessions("staff02")
        change_role("mon01", "monitor", ["01", "02"])
    assert not signed_out(copy) and not signed_out(client)


def test_ending_the_sessions_is_audited_on_the_users_stream(app, client):
    login(client, "staff01")
    sign_out_everywhere(app, client)
    with app.app_context():
        from ecrf.trail import audit_store
        event = audit_store().events("user/staff01")[-1]
    assert event["action"] == "sessions_ended" and event["actor"] == "root"
    assert event["state"]["details"]["session_generation"] == 1


def test_a_changed_role_is_stored_and_audited(app):
    with app.app_context():
        from ecrf.trail import audit_store
        from ecrf.users import change_role, get_user
        change_role("staff01", "investigator", ["01", "02"], actor="root")
        user, event = get_user("staff01"), audit_store().events("user/staff01")[-1]
    assert (user.role, user.sites) == ("investigator", ["01", "02"])
    assert event["action"] == "user_role_changed" and event["state"]["details"]["sites"] == ["01", "02"]


def test_a_role_change_to_an_unknown_site_stores_nothing(app):
    from ecrf.errors import Invalid

    with app.app_context():
        from ecrf.users import change_role, get_user
        with pytest.raises(Invalid) as refused:
            change_role("staff01", "site_staff", ["99"])
        assert get_user("staff01").sites == ["01"] and get_user("staff01").session_generation == 0
    assert refused.value.errors[0].path == "/sites"


@pytest.mark.parametrize("hours, ended", [(11, False), (13, True)])
def test_a_session_ends_at_its_absolute_lifetime_however_active(app, client, monkeypatch, hours, ended):
    import ecrf.auth
    from audit import utc_now

    login(client, "staff01")
    assert app.config["ECRF"].session_max_hours == 12
    later = utc_now() + dt.timedelta(hours=hours)
    monkeypatch.setattr(ecrf.auth, "utc_now", lambda: later)
    assert signed_out(client) is ended


# ---------------------------------------------------------------- TLS


def secure_cookie(response) -> bool:
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("session="))
    return "; Secure" in cookie


def test_over_plain_http_the_cookie_is_not_secure_and_no_hsts_is_sent(client):
    response = client.get("/login")
    assert not secure_cookie(response) and "Strict-Transport-Security" not in response.headers


def test_over_tls_the_cookie_is_secure_and_hsts_is_sent(client):
    response = client.get("/login", base_url="https://localhost")
    assert secure_cookie(response) and "Strict-Transport-Security" in response.headers


def test_a_forwarded_proto_is_ignored_unless_a_proxy_is_trusted(client):
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert not secure_cookie(response) and "Strict-Transport-Security" not in response.headers


def test_behind_a_trusted_proxy_a_forwarded_https_makes_the_cookie_secure_and_sends_hsts(tmp_path, monkeypatch):
    monkeypatch.setenv("ECRF_PROXY_FIX", "1")
    client = make_app(tmp_path, "mongomock://").test_client()
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert secure_cookie(response) and "Strict-Transport-Security" in response.headers
