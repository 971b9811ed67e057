"""The WSGI app gunicorn serves in the HTTP benchmark: built from the environment only.

``ECRF_MONGODB_URI`` and ``ECRF_MONGODB_DB`` point at the database the
benchmark prepared (study, sites, users and tokens already there);
``ECRF_INSTANCE_PATH`` and ``ECRF_SECRET_KEY`` keep the run out of ``./instance``.
"""

from ecrf.app import create_app, ready_to_serve

app = create_app()
ready_to_serve()
