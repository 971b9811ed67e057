"""The ``ecrf`` command groups, as API.md describes them, one module per group; the app registers them.

The group modules import each command's implementation inside the command, the one place the project
allows it: ``ecrf --help`` and shell completion then start without importing the app. The ``ecrf``
command itself, which builds and serves the app, is :mod:`ecrf.main`.
"""

from __future__ import annotations

from flask import Flask

from ecrf.cli.audit import audit_group
from ecrf.cli.data import checks_group, export, lock_group, ranges_group
from ecrf.cli.imports import import_group
from ecrf.cli.notify import notify_group
from ecrf.cli.study import study_group
from ecrf.cli.users import sites_group, users_group


def register_commands(app: Flask) -> None:
    """Attach the command groups to the app's CLI."""
    for command in (
        study_group,
        users_group,
        sites_group,
        audit_group,
        checks_group,
        ranges_group,
        lock_group,
        export,
        import_group,
        notify_group,
    ):
        app.cli.add_command(command)

