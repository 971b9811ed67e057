"""WSGI entry point for gunicorn: ``gunicorn -w 4 wsgi:app``."""

from ecrf import create_app, ready_to_serve

app = create_app()
ready_to_serve()
