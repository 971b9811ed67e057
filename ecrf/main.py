"""The ``ecrf`` command: the app's command groups (see :mod:`ecrf.cli`) plus ``ecrf serve``, which runs the web app.

It sits above the app: it builds the app (lazily, so ``ecrf --help`` and shell completion start fast: the
one place besides the command groups that imports inside a function) and serves it, while the app
only registers the command groups. So nothing the app imports leads back here.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from ecrf.errors import DomainError


def _create_app(*_args) -> Flask:
    from ecrf.app import create_app

    return create_app()


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False, load_dotenv=False
)
def main() -> None:
    """eCRF engine command line."""


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve(host: str, port: int) -> None:
    """Run the web app under gunicorn; starts (and watches) the embedded database when no ECRF_MONGODB_URI is set.

    Stops within seconds of SIGINT or SIGTERM, the embedded database with it. Exits 2 when
    ECRF_ADMIN_PASSWORD is refused.
    """
    from ecrf import db
    from ecrf.catchup import catch_up
    from ecrf.serving import serve as run_gunicorn
    from ecrf.setup import ensure_admin, ensure_study
    from ecrf.trail import flush_checkpoints

    # Until gunicorn takes the signals over: stop on either, even if SIGINT was inherited as ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    settings = current_app.config["ECRF"]
    try:
        password = ensure_admin(settings.admin_password or None)
    except DomainError as error:
        reasons = "; ".join(item.message for item in error.errors) or error.detail
        click.echo(f"error: ECRF_ADMIN_PASSWORD refused: {reasons}", err=True)
        sys.exit(2)
    if ensure_study(settings.study_path):
        click.echo(f"loaded the bundled study from {settings.study_path}")
    caught = catch_up()
    if caught:
        click.echo(f"brought {len(caught)} record(s) forward to their audit trail")
    uri = db.database_uri(settings)
    click.echo(f"eCRF running at http://{host}:{port}/")
    if password:
        click.echo(f"admin user: admin  password: {password}  (shown once; change it after login)")
    elif settings.admin_password and not password:
        click.echo("admin user: admin  password: from ECRF_ADMIN_PASSWORD")
    click.echo("Press Ctrl-C to stop (the embedded database stops with it).")
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    flush_checkpoints()  # what start-up appended (admin, study, catch-up): this process ends by os._exit
    db.disconnect()  # no database client crosses the fork into the workers
    code = 0
    try:
        run_gunicorn(settings, uri, host, port, db.embedded_server())
    except SystemExit as stopped:
        code = stopped.code if isinstance(stopped.code, int) else (0 if stopped.code is None else 1)
    finally:
        db.stop_embedded()
    # Workers and database have stopped and nothing is left to write: skip the interpreter's teardown of
    # the loaded app, which alone costs seconds on a busy machine, so a stop fits in 10 s.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


main.add_command(serve)
