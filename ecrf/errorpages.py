"""Errors at the edge: problem+json (RFC 9457) for the API, plain pages for people.

No stack trace ever reaches a response.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from pymongo.errors import AutoReconnect, ConnectionFailure, PyMongoError, ServerSelectionTimeoutError
from werkzeug.exceptions import HTTPException

from ecrf.errors import DomainError

log = logging.getLogger(__name__)


def problem(status: int, title: str, detail: str, errors: list | None = None, headers: dict | None = None,
            extra: dict | None = None):
    """A problem+json response (``extra``: extension members such as ``obstacles``)."""
    body = {**(extra or {}), "type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def respond(status: int, title: str, detail: str, errors: list | None = None, headers: dict | None = None,
            extra: dict | None = None):
    """The error as problem+json for the API, or as a plain page for people."""
    if wants_json():
        return problem(status, title, detail, errors, headers, extra)
    return render_template("error.html", status=status, title=title, detail=detail,
                           errors=errors or []), status, headers or {}


def init_app(app: Flask) -> None:
    """Register the handlers that turn errors into responses."""

    @app.errorhandler(DomainError)
    def _domain(error: DomainError):
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return respond(error.status, error.title, error.detail, [e.as_dict() for e in error.errors], headers,
                       error.extra)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        # Keep what the exception says besides its body: 405's Allow (RFC 9110), 401's WWW-Authenticate, ...
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return respond(error.code or 500, error.name, error.description or error.name, headers=headers)

    @app.errorhandler(ConnectionFailure)
    @app.errorhandler(AutoReconnect)
    @app.errorhandler(ServerSelectionTimeoutError)
    def _database_down(error):
        log.warning("database unavailable: %s", error)
        return respond(503, "Service unavailable", "the database does not answer; try again shortly",
                       headers={"Retry-After": "5"})

    @app.errorhandler(PyMongoError)
    def _database_refused(error):
        # Disk full, timeouts, write concern failures: nothing was stored, the caller may retry.
        log.error("database refused an operation: %s", error)
        return respond(503, "Service unavailable", "the database refused the operation; nothing was stored, try again",
                       headers={"Retry-After": "5"})

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unexpected error")
        return respond(500, "Internal server error", "an unexpected error occurred; it has been logged")

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
        )
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
