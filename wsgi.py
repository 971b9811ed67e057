"""WSGI entry point for gunicorn: ``gunicorn -w 4 wsgi:app``."""

from ecrf import create_app

app = create_app()
