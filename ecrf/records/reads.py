"""Reads of records: the records a form's rules read, and a record and its history as a user sees them."""

from __future__ import annotations

from ecrf.definitions import CompiledForm
from ecrf.ranges import LabRange
from ecrf.records.document import Record, current
from ecrf.records.scope import Scope, build_scope, records_by_event
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject, get_subject
from ecrf.trail import audit_store, record_stream


def streams_read(study: StudyRuntime, subject_id: str, form: CompiledForm, stream: str) -> list[str] | None:
    """The record streams a save of ``form`` reads, its own among them; None: every record of the subject.

    Only the records its rules name (and the subject facts' sources) when
    the rules name every record they read.
    """
    if not form.reads_other_records:
        return [stream]
    if not form.record_refs_complete:
        return None
    wanted = {stream, *(record_stream(study.oid, subject_id, e, f) for e, f in form.record_refs)}
    if form.reads_subject or form.has_ranges:
        wanted |= {record_stream(study.oid, subject_id, e, f) for e, f in study.fact_sources}
    return sorted(wanted)


def split_own(documents, stream: str) -> tuple[dict | None, list]:
    """``(the projection of stream or None, the other documents)`` of the given record projections."""
    stored, others = None, []
    for document in documents:
        if document["_id"] == stream:
            stored = document
        else:
            others.append(document)
    return stored, others


def read_records(study: StudyRuntime, subject_id: str, form: CompiledForm, stream: str) -> tuple[dict | None, list]:
    """The stored projection of ``stream``, and the subject's other records that the form's rules read (one query)."""
    streams = streams_read(study, subject_id, form, stream)
    query = {"_id": {"$in": streams}} if streams else {"study": study.oid, "subject": subject_id}
    return split_own(Record._get_collection().find(query), stream)


def read_scope(study: StudyRuntime, subject: Subject, event: dict, form: CompiledForm, data: dict) -> Scope:
    """The evaluation scope of ``data`` in ``form``, reading the records its rules read and the site's ranges."""
    stream = record_stream(study.oid, subject.subject_id, event["oid"], form.oid)
    records = records_by_event(read_records(study, subject.subject_id, form, stream)[1])
    site_ranges = list(LabRange._get_collection().find({"site": subject.site})) if form.uses_ranges else None
    return build_scope(study, subject, event, form, data, records, site_ranges)


def get_record(study: StudyRuntime, user, subject_id: str, event_oid: str, form_oid: str, *,
               subject: Subject | None = None) -> dict | None:
    """The current record (None while nothing is saved); 404 for what the user may not see.

    ``subject`` may be passed when the caller has just read it with :func:`get_subject` for this user.
    """
    subject = subject or get_subject(study, user, subject_id)
    study.form_in_event(event_oid, form_oid)
    return current(record_stream(study.oid, subject.subject_id, event_oid, form_oid))


def record_history(study: StudyRuntime, user, subject_id: str, event_oid: str | None = None,
                   form_oid: str | None = None) -> list[dict]:
    """The subject's audit events (optionally of one form instance), oldest first."""
    subject = get_subject(study, user, subject_id)
    store = audit_store()
    if event_oid and form_oid:
        return store.events(record_stream(study.oid, subject.subject_id, event_oid, form_oid))
    query = {"context.study": study.oid, "context.subject": subject.subject_id}
    return list(store.collection.find(query, sort=[("at", 1), ("stream", 1), ("seq", 1)]))


