"""The serving process behind ``ecrf serve``: gunicorn runs the app, and watches the embedded database.

The process that runs ``ecrf serve`` becomes gunicorn's arbiter. It owns the
embedded database (when no ``ECRF_MONGODB_URI`` is set) and restarts it,
with backoff, whenever it dies; workers keep its address and reconnect by
themselves. Each worker builds its own app after the fork (no database client
crosses a fork) on the database the arbiter names.

Stopping: gunicorn's arbiter handles SIGINT, SIGTERM and SIGQUIT itself, so
they work even where the process started with SIGINT ignored (a background
job of a non-interactive shell). In-flight requests get
``ECRF_GRACEFUL_TIMEOUT_S`` seconds; the caller then stops the database.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable

import pymongo.errors
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from ecrf.app import create_app, ready_to_serve
from ecrf.config import Settings
from ecrf.embedded import EmbeddedServer, EmbeddedServerError

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
# A database that has stayed up this long is healthy again: the next death restarts it at once.
STEADY_S = 60.0
# A worker that boots while the database is restarting waits for it instead of failing to boot
# (a boot failure would make gunicorn stop the whole server).
WORKER_BOOT_WAIT_S = 120.0
THREADS_PER_WORKER = 4


def worker_count(settings: Settings) -> int:
    """``ECRF_WORKERS``, or one worker per CPU this process may use (at least two)."""
    if settings.workers > 0:
        return settings.workers
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(2, cpus)


def thread_count(settings: Settings) -> int:
    """``ECRF_THREADS``, or a few threads per worker to cover the waits on the database's journal."""
    return settings.threads if settings.threads > 0 else THREADS_PER_WORKER


class DatabaseSupervisor:
    """Restarts the embedded database this process owns when it dies.

    :meth:`check` is called from the arbiter's loop (about once a second, and
    on every child's exit). The first restart after a steady spell is
    immediate; each further one waits twice as long (up to ``BACKOFF_MAX_S``).
    """

    def __init__(self, server: EmbeddedServer, clock: Callable[[], float] = time.monotonic):
        self.server = server
        self.clock = clock
        self.delay = 0.0
        self.retry_at: float | None = None
        self.up_since = clock()

    def check(self) -> None:
        """Restart the database if it has died and its backoff has passed; log what happens."""
        now = self.clock()
        if self.server.alive():
            if self.retry_at is None and now - self.up_since >= STEADY_S:
                self.delay = 0.0
            return
        if self.retry_at is None:
            log.warning("embedded database (pid %s) has died; restarting it in %.1f s",
                        self.server.process.pid, self.delay)
            self.retry_at = now + self.delay
        if now < self.retry_at:
            return
        self.delay = min(max(self.delay * 2, BACKOFF_FIRST_S), BACKOFF_MAX_S)
        try:
            uri = self.server.restart()
        except EmbeddedServerError as error:
            log.error("embedded database did not restart (%s); next attempt in %.1f s", error, self.delay)
            self.retry_at = self.clock() + self.delay
            return
        log.warning("embedded database restarted (pid %s) at %s", self.server.process.pid, uri)
        self.retry_at, self.up_since = None, self.clock()


class _SupervisingArbiter(Arbiter):
    """Gunicorn's arbiter, which also lets the database supervisor look after the database."""

    supervisor: DatabaseSupervisor | None = None

    def manage_workers(self):
        super().manage_workers()
        if self.supervisor is not None:
            self.supervisor.check()


class Server(BaseApplication):
    """Gunicorn, configured from code: ``app_factory`` builds the app in each worker."""

    def __init__(self, app_factory: Callable[[], Flask], options: dict,
                 supervisor: DatabaseSupervisor | None = None):
        self.app_factory = app_factory
        self.options = options
        self.supervisor = supervisor
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.app_factory()

    def run(self) -> None:
        """Serve until a stop signal; returns (or raises SystemExit) once every worker has stopped."""
        arbiter = _SupervisingArbiter(self)
        arbiter.supervisor = self.supervisor
        arbiter.run()


def gunicorn_options(settings: Settings, host: str, port: int) -> dict:
    """The gunicorn settings ``ecrf serve`` runs with."""
    return {
        "bind": [f"{host}:{port}"],
        "workers": worker_count(settings),
        "threads": thread_count(settings),
        "worker_class": "gthread",
        "graceful_timeout": settings.graceful_timeout_s,
        "preload_app": False,
        "control_socket_disable": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "ecrf",
    }


def worker_app(settings: Settings, uri: str) -> Callable[[], Flask]:
    """A factory of the app on the database at ``uri`` for a freshly forked worker.

    The worker waits (bounded) for a database that is being restarted rather than fail to boot.
    """

    def build() -> Flask:
        deadline = time.monotonic() + WORKER_BOOT_WAIT_S
        while True:
            try:
                app = create_app(dataclasses.replace(settings, mongodb_uri=uri))
                break
            except pymongo.errors.ConnectionFailure:
                if time.monotonic() > deadline:
                    raise
                log.warning("database at %s does not answer yet; worker %s waits", uri, os.getpid())
                time.sleep(1)
        ready_to_serve()
        return app

    return build


def serve(settings: Settings, uri: str, host: str, port: int, embedded: EmbeddedServer | None) -> None:
    """Run gunicorn on ``host:port`` until a stop signal; supervise ``embedded`` if this process owns it."""
    supervisor = DatabaseSupervisor(embedded) if embedded is not None and embedded.owner else None
    Server(worker_app(settings, uri), gunicorn_options(settings, host, port), supervisor).run()
