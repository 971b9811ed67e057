"""The API's blueprint and the request body parsing its route modules share."""

from __future__ import annotations

import json

from flask import Blueprint, request

from ecrf.auth import csrf
from ecrf.errors import BadRequest, FieldError, Invalid, UnsupportedMediaType
from ecrf.limits import MAX_JSON_DEPTH, json_depth
from ecrf.scope import api_scope
from ecrf.text import json_text_faults

# Named as the package, so the blueprint's root path stays ecrf/api.
api = Blueprint("api", "ecrf.api", url_prefix="/api/v1")
csrf.exempt(api)  # bearer tokens, never cookies: no cross-site request can carry them
api.url_value_preprocessor(api_scope)  # a study's routes find g.user and g.runtime loaded


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def json_body(optional: bool = False, text_checked_by_service: tuple[str, ...] = ()) -> dict:
    """The request's JSON object; 415 for another content type, 400 for malformed JSON or JSON nested deeper
    than :data:`~ecrf.limits.MAX_JSON_DEPTH`, 422 naming each string that no text field accepts
    (see :mod:`ecrf.text`). An ``optional`` body may be empty (then ``{}``), whatever its transfer encoding.
    Members named in ``text_checked_by_service`` are left to the service, which names their faults its own way
    (the write path: by item pointer, as every other fault of a record's data)."""
    raw = request.get_data(cache=True)
    if optional and not raw:
        return {}
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise BadRequest(f"the body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object", [FieldError("/", "must be an object")])
    faults = list(json_text_faults({k: v for k, v in body.items() if k not in text_checked_by_service}))
    if faults:
        raise Invalid("the body holds text that cannot be accepted", faults)
    return body
