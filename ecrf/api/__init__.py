"""The JSON API under ``/api/v1`` (see API.md): parse, call one service, render."""

from __future__ import annotations

import tempfile

from flask import g, jsonify, request, send_file

from ecrf.api import (  # noqa: F401  (they register their routes)
    amendments,
    attachments,
    imports,
    notifications,
    review,
    sae,
    schemas,
    users,
)
from ecrf.api.blueprint import api, json_body
from ecrf.api.fields.queries import query_json
from ecrf.api.fields.records import event_json, record_json
from ecrf.api.fields.subjects import subject_json
from ecrf.api.openapi import spec
from ecrf.auth import api_user
from ecrf.downloads import casebook_download
from ecrf.errors import DomainError, FieldError, Invalid, NotFound
from ecrf.exports import FORMATS, export_subjects, write_export
from ecrf.progress import status_matrix
from ecrf.queries import act_on_many, close, get_query, list_queries, raise_query, reopen, reply
from ecrf.records.broken import broken_checks as find_broken
from ecrf.records.reads import get_record, record_history
from ecrf.records.save import save_record
from ecrf.roles import Action, require
from ecrf.studies import loaded_studies
from ecrf.subjects import get_subject, list_subjects, register_subject
from ecrf.times import iso


@api.get("/studies")
def studies():
    api_user()
    return jsonify([{"oid": s.oid, "name": s.name, "version": s.version} for s in loaded_studies()])


@api.get("/studies/<study>")
def study_metadata(study: str):
    return jsonify(g.runtime.metadata())


@api.get("/studies/<study>/forms/<form>")
def form_definition(study: str, form: str):
    return jsonify(g.runtime.form(form).schema)


@api.post("/studies/<study>/subjects")
def create_subject(study: str):
    user, runtime = g.user, g.runtime
    body = schemas.load(schemas.SubjectCreate(), json_body())
    subject = register_subject(runtime, user, body["site"], body.get("subject_id"))
    return jsonify(subject_json(subject)), 201


@api.get("/studies/<study>/subjects")
def subjects(study: str):
    user, runtime = g.user, g.runtime
    return jsonify([subject_json(s) for s in list_subjects(runtime, user, request.args.get("site"))])


@api.get("/studies/<study>/subjects/<subject>")
def subject_detail(study: str, subject: str):
    user, runtime = g.user, g.runtime
    found = get_subject(runtime, user, subject)
    return jsonify({**subject_json(found), "events": status_matrix(runtime, found)})


@api.get("/studies/<study>/subjects/<subject>/events/<event>/forms/<form>")
def read_record(study: str, subject: str, event: str, form: str):
    user, runtime = g.user, g.runtime
    record = get_record(runtime, user, subject, event, form)
    if record is None:
        raise NotFound(f"nothing saved yet for {form} at {event}")
    return jsonify(record_json(record, runtime.form(form)))


@api.put("/studies/<study>/subjects/<subject>/events/<event>/forms/<form>")
def write_record(study: str, subject: str, event: str, form: str):
    user, runtime = g.user, g.runtime
    require(user, Action.ENTER_DATA)
    runtime.form_in_event(event, form)
    try:
        body = schemas.load(schemas.RecordWrite(), json_body(text_checked_by_service=("data",)))
    except DomainError:
        get_subject(runtime, user, subject)  # an unknown subject is said before a bad body
        raise
    result = save_record(runtime, user, subject, event, form, body["data"], body.get("version"), body.get("reason"),
                         merge=True)
    return jsonify(record_json(result.record, runtime.form(form))), 201 if result.created else 200


@api.get("/studies/<study>/subjects/<subject>/audit")
def subject_audit(study: str, subject: str):
    user, runtime = g.user, g.runtime
    return jsonify([event_json(e) for e in record_history(runtime, user, subject)])


@api.get("/studies/<study>/subjects/<subject>/events/<event>/forms/<form>/audit")
def record_audit(study: str, subject: str, event: str, form: str):
    user, runtime = g.user, g.runtime
    runtime.form_in_event(event, form)
    return jsonify([event_json(e) for e in record_history(runtime, user, subject, event, form)])


@api.get("/openapi.json")
def openapi():
    """The API description: public, it holds no data."""
    return jsonify(spec())


# ------------------------------------------------------------------ queries


@api.get("/studies/<study>/queries")
def queries(study: str):
    user, runtime = g.user, g.runtime
    filters = {k: request.args.get(k) for k in ("site", "subject", "event", "form", "item", "origin")}
    # state may be given several times (?state=open&state=answered) or as a comma-separated list
    filters["state"] = [s for given in request.args.getlist("state") for s in given.split(",") if s] or None
    min_age = request.args.get("min_age")
    if min_age is not None and not (min_age.isascii() and min_age.isdigit()):
        raise Invalid("min_age must be a whole number of days", [FieldError("/min_age", "a whole number, 0 or more")])
    found = list_queries(runtime, user, min_age=int(min_age) if min_age else None, **filters)
    return jsonify([query_json(q) for q in found])


@api.post("/studies/<study>/query-actions")  # not under /queries/: a name there would read as a query id
def queries_bulk(study: str):
    """Answer or close several queries with one comment: each through its own transition, each audited."""
    body = schemas.load(schemas.QueryBulk(), json_body())
    outcome = act_on_many(g.runtime, g.user, body["action"], body["ids"], body["text"])
    return jsonify({
        "done": [query_json(q) for q in outcome.done],
        "failed": [{"id": query_id, "status": error.status, "title": error.title, "detail": error.detail,
                    "errors": [e.as_dict() for e in error.errors]} for query_id, error in outcome.failed],
    })


@api.post("/studies/<study>/queries")
def create_query(study: str):
    user, runtime = g.user, g.runtime
    body = schemas.load(schemas.QueryCreate(), json_body())
    query = raise_query(runtime, user, body["subject"], body["event"], body["form"], body["item"], body["text"])
    return jsonify(query_json(query)), 201


@api.get("/studies/<study>/queries/<query_id>")
def query_detail(study: str, query_id: str):
    return jsonify(query_json(get_query(g.runtime, g.user, query_id)))


@api.post("/studies/<study>/queries/<query_id>/replies")
def query_reply(study: str, query_id: str):
    body = schemas.load(schemas.QueryText(), json_body())
    return jsonify(query_json(reply(g.runtime, g.user, query_id, body.get("text"))))


@api.post("/studies/<study>/queries/<query_id>/close")
def query_close(study: str, query_id: str):
    body = schemas.load(schemas.QueryText(), json_body(optional=True))
    return jsonify(query_json(close(g.runtime, g.user, query_id, body.get("text"))))


@api.post("/studies/<study>/queries/<query_id>/reopen")
def query_reopen(study: str, query_id: str):
    body = schemas.load(schemas.QueryText(), json_body())
    return jsonify(query_json(reopen(g.runtime, g.user, query_id, body.get("text"))))


@api.get("/studies/<study>/checks/broken")
def broken_checks(study: str):
    require(g.user, Action.MANAGE_QUERIES)
    return jsonify([{**b, "at": iso(b["at"])} for b in find_broken(g.runtime)])


@api.get("/studies/<study>/export/<kind>")
def export(study: str, kind: str):
    """An export as a download, built in a temporary file (flat memory) and streamed out."""
    user, runtime = g.user, g.runtime
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
    return casebook_download(g.runtime, g.user, subject)
