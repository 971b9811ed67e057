"""The eCRF engine: a Flask application over MongoDB and an append-only audit trail.

Nothing is imported here, so importing any module of the engine never builds the web layer; the
application factory is :func:`ecrf.app.create_app`.
"""
