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
def users_revoke(username: str) -> None:
    """Revoke every API token of the user."""
    from ecrf.users import get_user, revoke_tokens

    try:
        get_user(username)
    except DomainError as error:
        fail(error)
    click.echo(f"{revoke_tokens(username, actor='cli')} token(s) revoked")


@users_group.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable a user (never deleted); revokes their tokens."""
    from ecrf.users import set_active

    try:
        set_active(username, False, actor="cli")
    except DomainError as error:
        fail(error)
    click.echo(f"user {username} disabled")


@users_group.command("enable")
@click.argument("username")
def users_enable(username: str) -> None:
    """Re-enable a disabled user."""
    from ecrf.users import set_active

    try:
        set_active(username, True, actor="cli")
    except DomainError as error:
        fail(error)
    click.echo(f"user {username} enabled")


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
