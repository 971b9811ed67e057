"""The JSON API under ``/api/v1`` (see API.md): parse, call one service, render."""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, jsonify, request

from ecrf.api import schemas
from ecrf.auth import api_user, csrf
from ecrf.errors import BadRequest, DomainError, FieldError, Invalid, NotFound, UnsupportedMediaType
from ecrf.lifecycle import lifecycle_state
from ecrf.limits import MAX_JSON_DEPTH, json_depth
from ecrf.queries import record_queries
from ecrf.records import get_record, record_history, save_record
from ecrf.roles import Action
from ecrf.studies import loaded_studies, study_runtime
from ecrf.subjects import get_subject, list_subjects, register_subject, require, status_matrix
from ecrf.text import json_text_faults

api = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(api)  # bearer tokens, never cookies: no cross-site request can carry them


def iso(value) -> str | None:
    """UTC ISO-8601 text of a datetime (``...Z``)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def record_json(record: dict, form) -> dict:
    """A stored record as the API shows it."""
    return {
        "study": record["study"], "subject": record["subject"], "site": record["site"],
        "event": record["event"], "form": record["form"],
        "data": record.get("data") or {}, "derived": record.get("derived") or {},
        "status": record.get("status"), "missing": form.missing_items(record.get("data") or {}),
        "version": record.get("version", 0), "definition": record.get("definition"),
        "updated_at": iso(record.get("updated_at")), "updated_by": record.get("updated_by"),
        "flags": record.get("flags") or [],
        "lifecycle": lifecycle_state(record),
        "sdv": _stamp(record.get("sdv")), "sdv_items": {k: _stamp(v) for k, v in (record.get("sdv_items") or {}).items()},
        "signature": _stamp(record.get("signature")), "frozen": _stamp(record.get("frozen")),
        "locked": _stamp(record.get("locked")),
        "queries": [q.as_dict() for q in record_queries(record["study"], record["subject"], record["event"], record["form"])],
    }


def _stamp(entry: dict | None) -> dict | None:
    if not entry:
        return None
    return {k: iso(v) if isinstance(v, dt.datetime) else v for k, v in entry.items()}


def event_json(event: dict) -> dict:
    """An audit event as the API shows it."""
    context = event.get("context") or {}
    return {
        "stream": event["stream"], "seq": event["seq"], "at": iso(event["at"]), "actor": event["actor"],
        "action": event["action"], "changes": event.get("changes") or [], "reason": event.get("reason"),
        "event": context.get("event"), "form": context.get("form"),
        "prev": event["prev"], "hash": event["hash"],
    }


@api.get("/studies")
def studies():
    api_user()
    return jsonify([{"oid": s.oid, "name": s.name, "version": s.version} for s in loaded_studies()])


@api.get("/studies/<study>")
def study_metadata(study: str):
    api_user()
    return jsonify(study_runtime(study).metadata())


@api.get("/studies/<study>/forms/<form>")
def form_definition(study: str, form: str):
    api_user()
    return jsonify(study_runtime(study).form(form).schema)


@api.post("/studies/<study>/subjects")
def create_subject(study: str):
    user = api_user()
    runtime = study_runtime(study)
    body = schemas.load(schemas.SubjectCreate(), json_body())
    subject = register_subject(runtime, user, body["site"], body.get("subject_id"))
    return jsonify(subject.as_dict()), 201


@api.get("/studies/<study>/subjects")
def subjects(study: str):
    user = api_user()
    runtime = study_runtime(study)
    return jsonify([s.as_dict() for s in list_subjects(runtime, user, request.args.get("site"))])


@api.get("/studies/<study>/subjects/<subject>")
def subject_detail(study: str, subject: str):
    user = api_user()
    runtime = study_runtime(study)
    found = get_subject(runtime, user, subject)
    return jsonify({**found.as_dict(), "events": status_matrix(runtime, found)})


@api.get("/studies/<study>/subjects/<subject>/events/<event>/forms/<form>")
def read_record(study: str, subject: str, event: str, form: str):
    user = api_user()
    runtime = study_runtime(study)
    record = get_record(runtime, user, subject, event, form)
    if record is None:
        raise NotFound(f"nothing saved yet for {form} at {event}")
    return jsonify(record_json(record, runtime.form(form)))


@api.put("/studies/<study>/subjects/<subject>/events/<event>/forms/<form>")
def write_record(study: str, subject: str, event: str, form: str):
    user = api_user()
    runtime = study_runtime(study)
    require(user, Action.ENTER_DATA)
    runtime.form_in_event(event, form)
    try:
        body = schemas.load(schemas.RecordWrite(), json_body(text_checked_by_service=("data",)))
    except DomainError:
        get_subject(runtime, user, subject)  # an unknown subject is said before a bad body
        raise
    result = save_record(runtime, user, subject, event, form, body["data"], body.get("version"), body.get("reason"))
    return jsonify(record_json(result.record, runtime.form(form))), 201 if result.created else 200


@api.get("/studies/<study>/subjects/<subject>/audit")
def subject_audit(study: str, subject: str):
    user = api_user()
    runtime = study_runtime(study)
    return jsonify([event_json(e) for e in record_history(runtime, user, subject)])


@api.get("/studies/<study>/subjects/<subject>/events/<event>/forms/<form>/audit")
def record_audit(study: str, subject: str, event: str, form: str):
    user = api_user()
    runtime = study_runtime(study)
    runtime.form_in_event(event, form)
    return jsonify([event_json(e) for e in record_history(runtime, user, subject, event, form)])


@api.get("/openapi.json")
def openapi():
    """The API description: public, it holds no data."""
    from ecrf.api.openapi import spec

    return jsonify(spec())


# ------------------------------------------------------------------ queries


@api.get("/studies/<study>/queries")
def queries(study: str):
    from ecrf.queries import list_queries

    user = api_user()
    runtime = study_runtime(study)
    filters = {k: request.args.get(k) for k in ("site", "subject", "event", "form", "item", "state", "origin")}
    return jsonify([q.as_dict() for q in list_queries(runtime, user, **filters)])


@api.post("/studies/<study>/queries")
def create_query(study: str):
    from ecrf.queries import raise_query

    user = api_user()
    runtime = study_runtime(study)
    body = schemas.load(schemas.QueryCreate(), json_body())
    query = raise_query(runtime, user, body["subject"], body["event"], body["form"], body["item"], body["text"])
    return jsonify(query.as_dict()), 201


@api.get("/studies/<study>/queries/<query_id>")
def query_detail(study: str, query_id: str):
    from ecrf.queries import get_query

    user = api_user()
    return jsonify(get_query(study_runtime(study), user, query_id).as_dict())


@api.post("/studies/<study>/queries/<query_id>/replies")
def query_reply(study: str, query_id: str):
    from ecrf.queries import reply

    user = api_user()
    body = schemas.load(schemas.QueryText(), json_body())
    return jsonify(reply(study_runtime(study), user, query_id, body.get("text")).as_dict())


@api.post("/studies/<study>/queries/<query_id>/close")
def query_close(study: str, query_id: str):
    from ecrf.queries import close

    user = api_user()
    body = schemas.load(schemas.QueryText(), json_body(optional=True))
    return jsonify(close(study_runtime(study), user, query_id, body.get("text")).as_dict())


@api.post("/studies/<study>/queries/<query_id>/reopen")
def query_reopen(study: str, query_id: str):
    from ecrf.queries import reopen

    user = api_user()
    body = schemas.load(schemas.QueryText(), json_body())
    return jsonify(reopen(study_runtime(study), user, query_id, body.get("text")).as_dict())


@api.get("/studies/<study>/checks/broken")
def broken_checks(study: str):
    from ecrf.records import broken_checks as find_broken

    user = api_user()
    require(user, Action.MANAGE_QUERIES)
    return jsonify([{**b, "at": iso(b["at"])} for b in find_broken(study_runtime(study))])


@api.get("/studies/<study>/export/<kind>")
def export(study: str, kind: str):
    """An export as a download, built in a temporary file (flat memory) and streamed out."""
    import tempfile

    from flask import send_file

    from ecrf.exports import FORMATS, export_subjects, write_export

    user = api_user()
    runtime = study_runtime(study)
    if kind not in FORMATS:
        raise NotFound(f"no export format {kind!r}; formats: {', '.join(FORMATS)}")
    subjects = export_subjects(runtime, user, site=request.args.get("site"), subject=request.args.get("subject"))
    spool = tempfile.TemporaryFile()
    write_export(kind, spool, runtime, subjects)
    spool.seek(0)
    mimetype, suffix = FORMATS[kind]
    return send_file(spool, mimetype=mimetype, as_attachment=True, download_name=f"{runtime.oid}.{suffix}")


@api.get("/studies/<study>/subjects/<subject>/casebook.pdf")
def casebook(study: str, subject: str):
    """The subject's complete casebook as PDF."""
    import tempfile

    from flask import send_file

    from ecrf.exports.casebook import write_casebook

    user = api_user()
    runtime = study_runtime(study)
    spool = tempfile.TemporaryFile()
    write_casebook(spool, runtime, user, subject)
    spool.seek(0)
    return send_file(spool, mimetype="application/pdf", as_attachment=True, download_name=f"casebook-{subject}.pdf")


from ecrf.api import review  # noqa: E402,F401  (registers the review and lock routes)
from ecrf.api import imports  # noqa: E402,F401  (registers the clinical data import routes)
