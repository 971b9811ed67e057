"""What the form page shows: one context built from the record, the reader's rights and the submitted form.

The page view (:mod:`ecrf.views.records`) parses the request and saves through the write path; everything
the ``record.html`` template reads is resolved here, once, so the template computes nothing about the record.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field, fields

from flask_wtf import FlaskForm

from ecrf.definitions import CompiledForm
from ecrf.errors import DomainError
from ecrf.lifecycle import lifecycle_state
from ecrf.queries import record_queries
from ecrf.roles import Action, may
from ecrf.signatures import signatures_of
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject
from ecrf.webforms import data_to_form, field_name

SHOWN_QUERY_STATES = ("open", "answered", "closed")


@dataclass
class Rejection:
    """Why a submitted form was not saved: page-level errors, messages by field name, and the status to answer."""

    errors: list[dict] = field(default_factory=list)
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    status: int = 200


def invalid_form(wtform: FlaskForm) -> Rejection:
    """The faults WTForms found; 400 when the CSRF token expired (nothing else can be trusted), 422 otherwise."""
    expired = "csrf_token" in wtform.errors
    errors = [{"path": f"/{name}", "message": "; ".join(map(str, msgs))}
              for name, msgs in wtform.errors.items() if name != "csrf_token"]
    if expired:
        errors.append({"path": "/", "message": "the form expired; reload the page and try again"})
    field_errors = {name: list(map(str, msgs)) for name, msgs in wtform.errors.items()}
    return Rejection(errors, field_errors, 400 if expired else 422)


def refused_save(error: DomainError, form: CompiledForm, wtform: FlaskForm) -> Rejection:
    """The write path's refusal, each fault also shown beside the field its JSON pointer names."""
    rejection = Rejection([e.as_dict() for e in error.errors] or [{"path": "", "message": error.detail}],
                          status=error.status)
    for fault in error.errors:
        name = field_name(form, wtform, fault.path)
        if name:
            rejection.field_errors.setdefault(name, []).append(fault.message)
    return rejection


def filled_form(cls: type[FlaskForm], form: CompiledForm, record: dict | None, tz: zoneinfo.ZoneInfo) -> FlaskForm:
    """The page's form filled with the saved data and version (blank, version 0, before the first save)."""
    saved = record or {}
    wtform = cls(formdata=None, data=data_to_form(form, saved.get("data") or {}, tz))
    wtform.version.data = str(saved.get("version", 0))
    return wtform


@dataclass(frozen=True)
class FormPage:
    """The form page's template values, each already resolved (the names are the template's)."""

    study: StudyRuntime
    subject: Subject
    event: dict
    form: CompiledForm
    record: dict | None
    wtform: FlaskForm
    errors: list[dict]
    field_errors: dict[str, list[str]]
    tz: zoneinfo.ZoneInfo
    lifecycle: str
    editable: bool
    missing: list[str]
    derived: dict
    signatures: list
    item_queries: dict[str, list]
    item_flags: dict[str, list]
    can: dict[str, bool]

    def template_values(self) -> dict:
        """The values as ``render_template`` keywords (shallow: the runtime and the forms stay objects)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def form_page_context(runtime: StudyRuntime, user, subject: Subject, event: dict, form: CompiledForm,
                      record: dict | None, wtform: FlaskForm, rejection: Rejection, tz: zoneinfo.ZoneInfo) -> FormPage:
    """Everything the form page shows for ``record`` (``None`` before the first save) to ``user``."""
    saved = record or {}
    item_queries: dict[str, list] = {}
    for query in record_queries(runtime.oid, subject.subject_id, event["oid"], form.oid, states=SHOWN_QUERY_STATES):
        item_queries.setdefault(query.item, []).append(query)
    item_flags: dict[str, list] = {}
    for flag in saved.get("flags") or []:
        item_flags.setdefault(flag["item"], []).append(flag)
    can = {
        "answer": may(user.role, Action.ANSWER_QUERIES),
        "manage": may(user.role, Action.MANAGE_QUERIES),
        "verify": may(user.role, Action.VERIFY),
        "sign": may(user.role, Action.SIGN),
        "lock": may(user.role, Action.LOCK),
    }
    signatures = [s for s in signatures_of(runtime, user, subject.subject_id) if record and record["_id"] in s.heads]
    return FormPage(
        study=runtime,
        subject=subject,
        event=event,
        form=form,
        record=record,
        wtform=wtform,
        errors=rejection.errors,
        field_errors=rejection.field_errors,
        tz=tz,
        lifecycle=lifecycle_state(record),
        editable=may(user.role, Action.ENTER_DATA) and not saved.get("locked") and not saved.get("frozen"),
        missing=form.missing_items(saved.get("data") or {}) if record else [],
        derived=saved.get("derived") or {},
        signatures=signatures,
        item_queries=item_queries,
        item_flags=item_flags,
        can=can,
    )
