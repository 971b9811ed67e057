"""Users: logins that cannot be probed or raced past the lockout, tokens of locked users, the password policy."""

import datetime as dt

import pytest
from conftest import PASSWORD, login

LIMIT = 5


@pytest.fixture
def verifications(monkeypatch):
    """The hash argument of every argon2 verification from now on."""
    import ecrf.users

    hasher, seen = ecrf.users._hasher, []

    class Counting:
        def hash(self, password):
            return hasher.hash(password)

        def verify(self, password_hash, password):
            seen.append(password_hash)
            return hasher.verify(password_hash, password)

    monkeypatch.setattr(ecrf.users, "_hasher", Counting())
    return seen


def refusal(app, username, password):
    """The message :func:`ecrf.users.authenticate` refuses with."""
    from ecrf.errors import NotAuthenticated
    from ecrf.users import authenticate

    with app.app_context(), pytest.raises(NotAuthenticated) as refused:
        authenticate(username, password, lockout_attempts=LIMIT)
    return refused.value.detail


def lock(app, username):
    for _ in range(LIMIT):
        refusal(app, username, "wrong password")


def user_actions(app, username):
    with app.app_context():
        from ecrf.trail import audit_store
        return [event["action"] for event in audit_store().events(f"user/{username}")]


# ---------------------------------------------------------------- probing: the same work, the same words


def test_an_unknown_user_costs_one_password_verification_like_a_known_one(app, verifications):
    refusal(app, "staff01", "wrong password")
    known = len(verifications)
    refusal(app, "nobody", "wrong password")
    assert known == 1 and len(verifications) - known == 1


@pytest.mark.parametrize("state", ["unknown", "wrong password", "locked", "disabled", "locked, right password"])
def test_every_refused_login_costs_one_verification_and_says_the_same(app, verifications, state):
    username, password = ("nobody" if state == "unknown" else "staff01"), "wrong password"
    expected = refusal(app, "staff02", "wrong password")
    if state.startswith("locked"):
        lock(app, "staff01")
    if state == "disabled":
        app.test_cli_runner().invoke(args=["users", "disable", "staff01"])
    if state.endswith("right password"):
        password = PASSWORD
    before = len(verifications)
    assert refusal(app, username, password) == expected
    assert len(verifications) - before == 1


def test_the_refusal_does_not_say_whether_the_account_exists_but_says_that_accounts_lock(app):
    message = refusal(app, "nobody", "x")
    assert message.startswith("wrong username or password") and "locked" in message


def test_a_locked_or_unknown_account_is_checked_against_the_dummy_hash_never_the_users(app, verifications):
    with app.app_context():
        from ecrf.users import get_user
        real = get_user("staff01").password_hash
    lock(app, "staff01")
    before = len(verifications)
    refusal(app, "staff01", PASSWORD)
    refusal(app, "nobody", PASSWORD)
    assert real not in verifications[before:] and len(set(verifications[before:])) == 1


# ---------------------------------------------------------------- lockout


def test_the_attempt_that_reaches_the_limit_locks_and_is_audited(app):
    lock(app, "staff01")
    with app.app_context():
        from audit import utc_now
        from ecrf.users import get_user, is_locked
        assert is_locked(get_user("staff01"), utc_now())
    actions = user_actions(app, "staff01")
    assert actions.count("login_failed") == LIMIT and actions.count("account_locked") == 1


def test_a_locked_account_refuses_the_right_password_and_audits_it(app):
    lock(app, "staff01")
    refusal(app, "staff01", PASSWORD)
    assert user_actions(app, "staff01")[-1] == "login_refused_locked"


def test_no_password_is_checked_against_a_user_whose_attempts_are_all_in_flight(app, verifications):
    """Parallel attempts claim their count before checking: at the limit, the next is refused unchecked."""
    with app.app_context():
        from ecrf.users import User, get_user
        real = get_user("staff01").password_hash
        User.objects(username="staff01").update(set__failed_logins=LIMIT)  # LIMIT checks are under way
    refusal(app, "staff01", PASSWORD)
    assert real not in verifications
    with app.app_context():
        from audit import utc_now
        from ecrf.users import get_user, is_locked
        assert is_locked(get_user("staff01"), utc_now())  # and an account left at its limit is locked


def test_the_lock_ends_after_its_minutes_and_the_count_starts_again(app):
    lock(app, "staff01")
    with app.app_context():
        from audit import utc_now
        from ecrf.users import User, authenticate
        User.objects(username="staff01").update(set__locked_until=utc_now() - dt.timedelta(seconds=1))
        assert authenticate("staff01", PASSWORD).username == "staff01"
        assert User.objects(username="staff01").first().failed_logins == 0


def test_the_right_password_clears_the_failures(app):
    for _ in range(LIMIT - 1):
        refusal(app, "staff01", "wrong password")
    with app.app_context():
        from ecrf.users import authenticate
        authenticate("staff01", PASSWORD, lockout_attempts=LIMIT)
    for _ in range(LIMIT - 1):
        refusal(app, "staff01", "wrong password")
    with app.app_context():
        from ecrf.users import authenticate
        assert authenticate("staff01", PASSWORD, lockout_attempts=LIMIT).username == "staff01"


def test_the_login_page_gives_a_locked_account_the_same_page_as_an_unknown_one(client):
    for _ in range(LIMIT):
        login(client, "staff01", "wrong password")
    locked, unknown = login(client, "staff01"), login(client, "nobody")
    assert locked.status_code == unknown.status_code == 401
    # The page repeats the username typed, and nothing else differs.
    assert locked.get_data(as_text=True).replace("staff01", "nobody") == unknown.get_data(as_text=True)


# ---------------------------------------------------------------- tokens


def test_the_tokens_of_a_locked_user_are_refused_until_the_lock_ends(app, as_user):
    staff = as_user("staff01")
    assert staff.get("/studies").status_code == 200
    lock(app, "staff01")
    refused = staff.get("/studies")
    assert refused.status_code == 401 and "locked" in refused.get_json()["detail"]
    with app.app_context():
        from audit import utc_now
        from ecrf.users import User
        User.objects(username="staff01").update(set__locked_until=utc_now() - dt.timedelta(seconds=1))
    assert staff.get("/studies").status_code == 200


def test_the_tokens_of_a_disabled_user_are_refused(app, as_user):
    app.test_cli_runner().invoke(args=["users", "disable", "staff01"])
    assert as_user("staff01").get("/studies").status_code == 401


# ---------------------------------------------------------------- passwords


WEAK = ["aaaaaaaaaaaa", "password1234", "123456789012", " " * 12]


@pytest.mark.parametrize("weak", WEAK)
def test_weak_passwords_of_twelve_characters_are_refused_saying_why(app, weak):
    from ecrf.errors import Invalid
    from ecrf.users import add_user, change_password, get_user

    with app.app_context():
        with pytest.raises(Invalid) as created:
            add_user("newbie", "monitor", ["01"], weak, min_password_length=12)
        with pytest.raises(Invalid) as changed:
            change_password(get_user("staff01"), PASSWORD, weak, min_length=12)
    for refused in (created.value, changed.value):
        message = " ".join(e.message for e in refused.errors)
        assert "too easy to guess" in message and ("Repeat" in message or "common" in message), message


def test_a_strong_password_is_accepted(app):
    from ecrf.users import add_user, authenticate

    with app.app_context():
        add_user("newbie", "monitor", ["01"], "quiet otter unfolds maps", min_password_length=12)
        assert authenticate("newbie", "quiet otter unfolds maps").username == "newbie"


def test_the_users_own_name_counts_against_the_password(app):
    from ecrf.passwords import password_problems

    plain = password_problems("Zhangwei2026!", min_length=12)
    named = password_problems("Zhangwei2026!", min_length=12, username="zw", full_name="Zhang Wei")
    assert not plain and named and "too easy to guess" in named[0]


def test_a_password_containing_the_username_is_refused(app):
    from ecrf.passwords import password_problems

    assert "password must not contain the username" in password_problems(
        "purple staff01 walrus", min_length=12, username="staff01")


def test_a_password_longer_than_the_strength_meter_reads_is_measured_by_its_start(app):
    from ecrf.passwords import password_problems

    assert password_problems("a" * 200, min_length=12)
    assert not password_problems("quiet otter unfolds maps " * 8, min_length=12)


def test_the_cli_says_why_a_password_is_refused(app):
    result = app.test_cli_runner().invoke(args=["users", "password", "staff01"], input="password1234\n")
    assert result.exit_code == 1
    assert "too easy to guess" in result.output and "common password" in result.output


def test_the_password_page_says_why_a_password_is_refused(client):
    from conftest import token_in

    login(client, "staff01")
    page = client.get("/account/password").get_data(as_text=True)
    response = client.post("/account/password", data={"csrf_token": token_in(page), "current": PASSWORD,
                                                      "new": "aaaaaaaaaaaa", "confirm": "aaaaaaaaaaaa"})
    assert response.status_code == 422
    assert "too easy to guess" in response.get_data(as_text=True)


def test_an_administrator_sees_a_locked_user_and_unlocks_them_audited(app, client):
    from conftest import token_in

    lock(app, "staff01")
    login(client, "root")
    page = client.get("/admin/users/staff01").get_data(as_text=True)
    assert '<dd id="user-status">locked</dd>' in page and "/admin/users/staff01/unlock" in page
    assert client.post("/admin/users/staff01/unlock", data={"csrf_token": token_in(page)}).status_code == 302
    assert "/admin/users/staff01/unlock" not in client.get("/admin/users/staff01").get_data(as_text=True)
    with app.app_context():
        from ecrf.users import authenticate
        assert authenticate("staff01", PASSWORD).username == "staff01"
    assert "account_unlocked" in user_actions(app, "staff01")
