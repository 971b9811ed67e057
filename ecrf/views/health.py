"""``GET /healthz``: 200 once the app and its database answer."""

from flask import Blueprint, jsonify

from ecrf.db import ping
from ecrf.errorpages import problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    if not ping():
        return problem(503, "Service unavailable", "the database does not answer", headers={"Retry-After": "5"})
    return jsonify({"status": "ok"})
