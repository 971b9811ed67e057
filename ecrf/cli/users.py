"""``ecrf users`` and ``ecrf sites``: accounts, their tokens and passwords, and the sites they work at.

Each command imports its implementation inside its function, the one place the
project allows it: ``ecrf --help`` and shell completion then start without importing the app.
"""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from ecrf.cli.terminal import fail
from ecrf.errors import DomainError


@click.group("users", cls=AppGroup)
def users_group() -> None:
    """Manage users."""


@users_group.command("add")
@click.argument("username")
@click.option("--role", required=True, help="site_staff, investigator, monitor, data_manager or admin")
@click.option("--site", "sites", multiple=True, help="site code (repeat for several)")
@click.option("--name", "full_name", default="", help="printed name (shown on signatures)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def users_add(username: str, role: str, sites: tuple[str, ...], full_name: str, password_stdin: bool) -> None:
    """Create a user."""
    from ecrf.users import add_user

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    settings = current_app.config["ECRF"]
    try:
        add_user(username, role, list(sites), password, full_name=full_name, actor="cli",
                 min_password_length=settings.password_min_length)
    except DomainError as error:
        fail(error)
    click.echo(f"user {username} ({role}) created")


@users_group.command("token")
@click.argument("username")
def users_token(username: str) -> None:
    """Print a new API token for the user (shown once)."""
    from ecrf.users import issue_token

    try:
        click.echo(issue_token(username, actor="cli"))
    except DomainError as error:
        fail(error)


@users_group.command("revoke-tokens")
@click.argument("username")
@click.option("--reason", default=None, help="why (kept in the audit trail)")
def users_revoke(username: str, reason: str | None) -> None:
    """Revoke every API token of the user."""
    from ecrf.users import get_user, revoke_tokens

    try:
        get_user(username)
    except DomainError as error:
        fail(error)
    click.echo(f"{revoke_tokens(username, actor='cli', reason=reason)} token(s) revoked")


@users_group.command("disable")
@click.argument("username")
@click.option("--reason", default=None, help="why (kept in the audit trail)")
def users_disable(username: str, reason: str | None) -> None:
    """Disable a user (never deleted); revokes their tokens and ends their sessions."""
    from ecrf.users import set_active

    try:
        set_active(username, False, actor="cli", reason=reason)
    except DomainError as error:
        fail(error)
    click.echo(f"user {username} disabled")


@users_group.command("enable")
@click.argument("username")
@click.option("--reason", default=None, help="why (kept in the audit trail)")
def users_enable(username: str, reason: str | None) -> None:
    """Re-enable a disabled user."""
    from ecrf.users import set_active

    try:
        set_active(username, True, actor="cli", reason=reason)
    except DomainError as error:
        fail(error)
    click.echo(f"user {username} enabled")


@users_group.command("role")
@click.argument("username")
@click.option("--role", required=True, help="site_staff, investigator, monitor, data_manager or admin")
@click.option("--site", "sites", multiple=True, help="site code (repeat for several)")
@click.option("--reason", required=True, help="why (kept in the audit trail)")
def users_role(username: str, role: str, sites: tuple[str, ...], reason: str) -> None:
    """Give a user another role and sites; every session of the user ends."""
    from ecrf.users import change_role

    try:
        change_role(username, role, list(sites), actor="cli", reason=reason)
    except DomainError as error:
        fail(error)
    click.echo(f"user {username} is now {role}" + (f" at {', '.join(sites)}" if sites else ""))


@users_group.command("reset-password")
@click.argument("username")
@click.option("--reason", required=True, help="why (kept in the audit trail)")
def users_reset_password(username: str, reason: str) -> None:
    """Print a one-time password (shown once) that the user must change at their next sign-in."""
    from ecrf.users import reset_password

    try:
        click.echo(reset_password(username, actor="cli", reason=reason,
                                  min_length=current_app.config["ECRF"].password_min_length))
    except DomainError as error:
        fail(error)


@users_group.command("unlock")
@click.argument("username")
@click.option("--reason", default=None, help="why (kept in the audit trail)")
def users_unlock(username: str, reason: str | None) -> None:
    """End a lockout after repeated failed sign-ins."""
    from ecrf.users import unlock

    try:
        unlock(username, actor="cli", reason=reason)
    except DomainError as error:
        fail(error)
    click.echo(f"user {username} unlocked")


@users_group.command("sign-out")
@click.argument("username")
@click.option("--reason", default=None, help="why (kept in the audit trail)")
def users_sign_out(username: str, reason: str | None) -> None:
    """End every browser session of the user."""
    from ecrf.users import end_sessions

    try:
        end_sessions(username, actor="cli", reason=reason)
    except DomainError as error:
        fail(error)
    click.echo(f"every session of {username} has ended")


@users_group.command("list")
def users_list() -> None:
    """Every user: username, role, sites, status, last sign-in (UTC), tab-separated."""
    from audit import utc_now
    from ecrf.access_review import account_status
    from ecrf.times import iso
    from ecrf.users import User

    now = utc_now()
    for user in User.objects.order_by("username"):
        click.echo("\t".join([user.username, user.role, ",".join(user.sites or []) or "*",
                              account_status(user, now), iso(user.last_login) or "never"]))


@users_group.command("access-review")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="write the CSV to this file (default: standard output)")
def users_access_review(output: str | None) -> None:
    """The access review as CSV: each grant of a role at a site, since when, by whom, last sign-in, status."""
    from ecrf.access_review import access_review, access_review_csv

    text = access_review_csv(access_review())
    if output:
        with open(output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        click.echo(f"access review written to {output}")
    else:
        click.echo(text, nl=False)


@users_group.command("password")
@click.argument("username")
def users_password(username: str) -> None:
    """Set a user's password from standard input (policy and history apply)."""
    from ecrf.users import change_password, get_user

    settings = current_app.config["ECRF"]
    try:
        change_password(get_user(username), None, sys.stdin.readline().rstrip("\n"), actor="cli",
                        min_length=settings.password_min_length, history=settings.password_history)
    except DomainError as error:
        fail(error)
    click.echo(f"password of {username} changed")


@click.group("sites", cls=AppGroup)
def sites_group() -> None:
    """Manage sites."""


@sites_group.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--timezone", default="UTC", help="IANA time zone, e.g. Asia/Shanghai")
def sites_add(code: str, name: str, timezone: str) -> None:
    """Create a site."""
    from ecrf.sites import add_site

    try:
        add_site(code, name, timezone, actor="cli")
    except DomainError as error:
        fail(error)
    click.echo(f"site {code} created")
