"""The ``ecrf`` command line (a Flask CLI group), as API.md describes it, one module per command group.

The group modules import each command's implementation inside the command, the one place the project
allows it: ``ecrf --help`` and shell completion then start without importing the app.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from ecrf.cli.audit import audit_group
from ecrf.cli.data import checks_group, export, lock_group, ranges_group
from ecrf.cli.imports import import_group
from ecrf.cli.serve import serve
from ecrf.cli.study import study_group
from ecrf.cli.users import sites_group, users_group


def _create_app(*_args) -> Flask:
    # The CLI's one documented exception to module-level imports: commands load the app and their
    # implementations lazily, so that `ecrf --help` and shell completion start without building the app
    # (and ecrf.app, which registers these commands, can import this module).
    from ecrf.app import create_app

    return create_app()


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
        serve,
    ):
        app.cli.add_command(command)


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False, load_dotenv=False
)
def main() -> None:
    """eCRF engine command line."""
