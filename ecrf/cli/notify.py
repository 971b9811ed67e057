"""``ecrf notify``: deliver notifications from the audit trail now, and send the daily digest.

Each command imports its implementation inside its function, the one place the project allows it.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup


@click.group("notify", cls=AppGroup)
def notify_group() -> None:
    """Notifications: inbox and e-mail."""


@notify_group.command("run")
def notify_run() -> None:
    """Deliver what happened since the last run (and overdue visits and SAE reports), then send due e-mails."""
    from ecrf.notifications import notifier

    click.echo(f"{notifier.run(current_app.config['ECRF'])} notification(s) delivered")


@notify_group.command("digest")
def notify_digest() -> None:
    """E-mail each user the digest of the notifications waiting for it."""
    from ecrf.notifications import mail, notifier

    settings = current_app.config["ECRF"]
    notifier.run(settings, clocks=False)
    click.echo(f"{mail.send_digests(settings)} digest(s) sent")
