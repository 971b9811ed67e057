"""ecrf users and ecrf sites: create sites and users, issue tokens, refuse bad input."""

import pytest


def test_sites_add_and_refusals(cli):
    assert cli("sites", "add", "03", "--name", "Third", "--timezone", "Asia/Shanghai").exit_code == 0
    duplicate = cli("sites", "add", "03", "--name", "Again")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    bad_zone = cli("sites", "add", "04", "--name", "X", "--timezone", "Mars/Olympus")
    assert bad_zone.exit_code == 1 and "/timezone" in bad_zone.output


def test_users_add_with_password_from_stdin_then_token(app, cli):
    result = cli("users", "add", "newbie", "--role", "monitor", "--site", "01", "--password-stdin",
                 input="a long enough secret\n")
    assert result.exit_code == 0, result.output
    token = cli("users", "token", "newbie").output.strip()
    assert token.startswith("ecrf_")
    assert app.test_client().get("/api/v1/studies", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("args, message", [
    (["users", "add", "x1", "--role", "wizard", "--site", "01"], "unknown role 'wizard'"),
    (["users", "add", "x2", "--role", "monitor", "--site", "77"], "unknown site '77'"),
    (["users", "add", "x3", "--role", "monitor"], "needs at least one site"),
    (["users", "add", "staff01", "--role", "monitor", "--site", "01"], "already exists"),
    (["users", "token", "ghost"], "unknown user"),
])
def test_users_add_refuses_bad_input_and_stores_nothing(app, cli, args, message):
    result = cli(*args)
    assert result.exit_code == 1 and message in result.output
    with app.app_context():
        from ecrf.users import User
        assert User.objects(username__in=["x1", "x2", "x3"]).count() == 0


def test_weak_password_is_refused(cli):
    result = cli(
        "users", "add", "weakling", "--role", "monitor", "--site", "01", "--password-stdin", input="weakling1\n"
    )
    assert result.exit_code == 1 and "must not contain the username" in result.output
