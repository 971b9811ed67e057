"""ecrf users and ecrf sites: create sites and users, issue tokens, refuse bad input."""

import csv

import pytest
from user_admin import last_event, verify_clean

from ecrf.users import authenticate


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
