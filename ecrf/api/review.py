"""API for review and lock: SDV, signatures, freeze and lock at record, visit, subject and study level."""

from __future__ import annotations

from dataclasses import asdict

from flask import g, jsonify, request

from ecrf import lifecycle, readiness, signature_worklist, signatures
from ecrf.api import schemas
from ecrf.api.blueprint import api, json_body
from ecrf.api.fields.records import record_json, worklist_item_json
from ecrf.api.fields.signatures import signature_json
from ecrf.auth import password_check
from ecrf.errors import FieldError, Invalid
from ecrf.records.reads import get_record
from ecrf.sdv_worklist import worklist

RECORD = "/studies/<study>/subjects/<subject>/events/<event>/forms/<form>"
SUBJECT = "/studies/<study>/subjects/<subject>"
LOCKS = {
    "lock": ("locked", True),
    "unlock": ("locked", False),
    "freeze": ("frozen", True),
    "unfreeze": ("frozen", False),
}


def _body(schema) -> dict:
    return schemas.load(schema, json_body(optional=True))


def _record_response(runtime, user, subject, event, form):
    return jsonify(record_json(get_record(runtime, user, subject, event, form), runtime.form(form)))


@api.post(RECORD + "/sdv")
def record_sdv(study, subject, event, form):
    user, runtime = g.user, g.runtime
    body = _body(schemas.SdvRequest())
    lifecycle.verify(runtime, user, subject, event, form, body.get("items"))
    return _record_response(runtime, user, subject, event, form)


def _sign(study, subject, event=None, form=None):
    user, runtime = g.user, g.runtime
    body = _body(schemas.SignRequest())
    signature = readiness.sign_checked(
        runtime,
        user,
        body.get("password"),
        subject_id=subject,
        event=event,
        form=form,
        meaning=body.get("meaning"),
        override_reason=body.get("override_reason"),
        check_password=password_check(),
    )
    return jsonify(signature_json(signature)), 201


@api.post(RECORD + "/sign")
def record_sign(study, subject, event, form):
    return _sign(study, subject, event, form)


@api.post(SUBJECT + "/events/<event>/sign")
def event_sign(study, subject, event):
    return _sign(study, subject, event)


@api.post(SUBJECT + "/sign")
def subject_sign(study, subject):
    return _sign(study, subject)


@api.get("/studies/<study>/obstacles")
def obstacles(study):
    """What stands against a sign, freeze or lock of the form, visit, casebook or study the query names."""
    step = request.args.get("step", "")
    if step not in readiness.STEPS:
        raise Invalid("unknown step", [FieldError("/step", f"one of {', '.join(readiness.STEPS)}")])
    scope = {key: request.args.get(key) or None for key in ("subject", "event", "form")}
    found = readiness.obstacles(g.runtime, g.user, step, subject_id=scope["subject"], event=scope["event"],
                                form=scope["form"])
    return jsonify({"step": step, "counts": readiness.counts(found),
                    "obstacles": [o.as_dict() for o in found]})


@api.get("/studies/<study>/awaiting-signature")
def awaiting_signature(study):
    """The forms, visits and casebooks at the investigator's sites that await their signature."""
    return jsonify([asdict(line) for line in signature_worklist.awaiting_signature(g.runtime, g.user)])


@api.get(SUBJECT + "/signatures")
def subject_signatures(study, subject):
    return jsonify([signature_json(s) for s in signatures.signatures_of(g.runtime, g.user, subject)])


def _lock(verb, study, subject=None, event=None, form=None):
    user, runtime = g.user, g.runtime
    body = _body(schemas.ReasonRequest())
    kind, on = LOCKS[verb]
    changed = readiness.lock_checked(
        runtime, user, kind, on, subject_id=subject, event=event, form=form, reason=body.get("reason"),
        override_reason=body.get("override_reason"),
    )
    if form:
        return _record_response(runtime, user, subject, event, form)
    return jsonify({"action": verb, "records": changed})


def _register_locks():
    for verb in LOCKS:
        api.add_url_rule(
            RECORD + f"/{verb}", f"record_{verb}", lambda verb=verb, **kw: _lock(verb, **kw), methods=["POST"]
        )
        api.add_url_rule(
            SUBJECT + f"/{verb}", f"subject_{verb}", lambda verb=verb, **kw: _lock(verb, **kw), methods=["POST"]
        )
        api.add_url_rule(
            f"/studies/<study>/{verb}", f"study_{verb}", lambda verb=verb, **kw: _lock(verb, **kw), methods=["POST"]
        )


_register_locks()


@api.get("/studies/<study>/sdv")
def sdv_worklist(study):
    """The SDV worklist: saved forms awaiting SDV, partly verified or changed since SDV (monitors, data managers)."""
    user, runtime = g.user, g.runtime
    filters = {key: request.args.get(key) or None for key in ("site", "subject", "event", "status")}
    return jsonify([worklist_item_json(item) for item in worklist(runtime, user, **filters)])
