"""WSGI entry point for gunicorn: ``gunicorn -w 4 wsgi:app``."""

from ecrf.app import create_app, ready_to_serve
from ecrf.catchup import catch_up

app = create_app()
# Projections a crash left behind their audit stream; idempotent, so every worker may run it.
catch_up()
ready_to_serve()
