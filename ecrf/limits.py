"""Limits on request bodies that hold whatever the transfer encoding: size, and the nesting depth of JSON."""

from __future__ import annotations

from itertools import accumulate

from flask import Flask, request

from ecrf.errors import PayloadTooLarge

MAX_JSON_DEPTH = 64

_NOT_BRACKET_OR_QUOTE = bytes(b for b in range(256) if b not in b'[]{}"')
_STEP = [0] * 256  # +1 for an opening bracket, -1 for a closing one
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in the JSON text ``raw`` (brackets inside strings do not count).

    Counts without parsing, so a hostile body never reaches the parser's recursion. Malformed text gets
    some number: the parser refuses it afterwards.
    """
    # All in C: escaped backslashes and quotes go first, so that every quote left opens or closes a string;
    # then everything but brackets and quotes; then what stands between quotes (the strings).
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.translate(None, _NOT_BRACKET_OR_QUOTE).split(b'"')[::2])
    return max(accumulate(map(_STEP.__getitem__, brackets), initial=0))


def _whole_body_within_limit() -> None:
    """A body without Content-Length (chunked) over ``MAX_CONTENT_LENGTH`` is refused with 413.

    Werkzeug stops reading such a body at the limit and hands on what it read, so the rest would be
    silently cut off (a JSON body then fails as malformed, 400). The server terminates the stream
    (``wsgi.input_terminated``), so one byte more tells whether the body went on past the limit.
    """
    limit = request.max_content_length  # the app's, or the larger one an upload route sets for itself
    if (not limit or request.method not in _BODY_METHODS or request.content_length is not None
            or not request.environ.get("wsgi.input_terminated")):
        return
    if len(request.get_data(cache=True)) >= limit and request.environ["wsgi.input"].read(1):
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")


def init_app(app: Flask) -> None:
    """Check every request body against the size limit before a view reads it."""
    app.before_request(_whole_body_within_limit)
