"""Limits on request bodies that hold whatever the transfer encoding: size, and the nesting depth of JSON."""

from __future__ import annotations

import re

from flask import Flask, current_app, request

from ecrf.errors import PayloadTooLarge

MAX_JSON_DEPTH = 64

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def json_depth(raw: bytes, stop_after: int = MAX_JSON_DEPTH) -> int:
    """How deeply arrays and objects nest in the JSON text ``raw`` (brackets inside strings do not count).

    Counts without parsing, so a hostile body never reaches the parser's recursion; stops counting
    once past ``stop_after``. Malformed text gets some number: the parser refuses it afterwards.
    """
    depth = deepest = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', raw)):
        if bracket.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_after:
                    break
        else:
            depth -= 1
    return deepest


def _whole_body_within_limit() -> None:
    """A body without Content-Length (chunked) over ``MAX_CONTENT_LENGTH`` is refused with 413.

    Werkzeug stops reading such a body at the limit and hands on what it read, so the rest would be
    silently cut off (a JSON body then fails as malformed, 400). The server terminates the stream
    (``wsgi.input_terminated``), so one byte more tells whether the body went on past the limit.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if (not limit or request.method not in _BODY_METHODS or request.content_length is not None
            or not request.environ.get("wsgi.input_terminated")):
        return
    if len(request.get_data(cache=True)) >= limit and request.environ["wsgi.input"].read(1):
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")


def init_app(app: Flask) -> None:
    """Check every request body against the size limit before a view reads it."""
    app.before_request(_whole_body_within_limit)
