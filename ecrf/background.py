"""Work the serving process does beside its requests: the notifier, in one daemon thread per process.

Started by a process's first request (never by a command of the ``ecrf`` CLI, which answers none), so each
gunicorn worker has one; their runs may overlap, which the notifier's keys and claims make harmless.
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask

from ecrf.notifications import mail, notifier

log = logging.getLogger(__name__)
_lock = threading.Lock()
_started: dict[int, threading.Thread] = {}  # by process id: a forked worker starts its own


def _loop(app: Flask, stop: threading.Event) -> None:
    settings = app.config["ECRF"]
    while not stop.is_set():
        try:
            with app.app_context():
                notifier.run(settings, clocks=notifier.clocks_due())
                if notifier.digest_due(settings):
                    mail.send_digests(settings)
        except Exception:  # noqa: BLE001 - a failed pass is logged and tried again; it must not stop the thread
            log.exception("notifier pass failed")
        stop.wait(settings.notify_interval_s)


def init_app(app: Flask) -> None:
    """Start the notifier thread on the process's first request, unless notifications run by the CLI only
    (``ECRF_NOTIFY_INTERVAL_S=0``) or the app is under test."""
    settings = app.config["ECRF"]
    if settings.notify_interval_s <= 0 or settings.testing:
        return
    stop = threading.Event()

    @app.before_request
    def _start_notifier() -> None:
        if os.getpid() in _started:
            return
        with _lock:
            if os.getpid() not in _started:
                thread = threading.Thread(target=_loop, args=(app, stop), name="ecrf-notifier", daemon=True)
                _started[os.getpid()] = thread
                thread.start()
