"""The save service: one form instance through the whole write path.

    guards -> normalise -> validate -> evaluate -> events -> append -> after the save
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit import GENESIS, StaleVersion, diff
from ecrf.coding.codings import sync_codings
from ecrf.db import lookup
from ecrf.definitions import CompiledForm
from ecrf.errors import Conflict, FieldError, Invalid, Locked, NotFound, ReasonRequired
from ecrf.locks import ContainerLock, container_keys, held_kind
from ecrf.ranges import LabRange
from ecrf.records.broken import report_broken
from ecrf.records.document import Record, current, project
from ecrf.records.enrollment import (
    enrollment_status,
    status_event,
    subject_head,
    update_enrollment,
)
from ecrf.records.normalise import normalise
from ecrf.records.query_sync import sync_queries
from ecrf.records.reads import read_records, split_own, streams_read
from ecrf.records.recheck import recheck_dependents
from ecrf.records.retired import is_retirement, resent_dropped, split_retired
from ecrf.records.rules import Evaluation, Finding, evaluate
from ecrf.records.scope import build_scope, records_by_event
from ecrf.records.validation import validate
from ecrf.roles import Action, require
from ecrf.safety.reports import open_reports_quietly
from ecrf.sdv import reset_on_change
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject, subject_key, subject_runtime, visible_subject
from ecrf.text import MAX_REASON, check_text
from ecrf.trail import audit_store, record_stream


@dataclass
class SaveInputs:
    """What a save reads before it writes."""

    subject: Subject
    stored: dict | None  # the record's projection (None: a new record)
    others: list[dict]  # the subject's other records that the form's rules read
    held: str | None  # the subject's or the study's container lock ("locked", "frozen"), which refuses new records
    site_ranges: list[dict] | None  # every stored reference range of the subject's site, if the form uses ranges


def read_for_save(study: StudyRuntime, user, subject_id: str, form: CompiledForm, stream: str) -> SaveInputs:
    """Everything a save of ``stream`` reads, in one database command.

    The subject (:class:`NotFound` unless this user may see it), the record
    and the records its rules read, the container locks over the subject and,
    for forms that use reference ranges, its site's ranges: one aggregation
    on the subject's document that looks each of them up by an indexed key.
    Forms whose rules read records they do not name read the subject's
    records in one more query.
    """
    require(user, Action.VIEW_DATA)
    streams = streams_read(study, subject_id, form, stream)
    pipeline = [
        {"$match": {"_id": subject_key(study.oid, subject_id)}},
        {"$addFields": {"_streams": {"$literal": streams or []},
                        "_locks": {"$literal": container_keys(study.oid, subject_id)}}},
        *([lookup(Record, "_streams", "_id", "_records")] if streams is not None else []),
        lookup(ContainerLock, "_locks", "_id", "_held"),
        *([lookup(LabRange, "site", "site", "_ranges")] if form.uses_ranges else []),
    ]
    found = next(Subject._get_collection().aggregate(pipeline), None)
    if found is None:
        visible_subject(study, user, subject_id, None)  # NotFound, or restores a subject registered half-way
        found = next(Subject._get_collection().aggregate(pipeline), None)
        if found is None:
            raise NotFound(f"no subject {subject_id!r}")
    looked_up = {key: found.pop(key, None) for key in ("_streams", "_locks", "_records", "_held", "_ranges")}
    subject = visible_subject(study, user, subject_id, found)
    stored, others = (split_own(looked_up["_records"], stream) if streams is not None
                      else read_records(study, subject_id, form, stream))
    return SaveInputs(subject, stored, others, held_kind(looked_up["_held"]),
                      looked_up["_ranges"] if form.uses_ranges else None)


@dataclass
class SaveResult:
    """What a save did: the record as it now stands, whether it was created or changed, what the rules found."""

    record: dict
    created: bool
    changed: bool
    findings: list[Finding] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def save_record(study: StudyRuntime, user, subject_id: str, event_oid: str, form_oid: str, data: Any,
                version: Any = None, reason: Any = None, provenance: dict | None = None,
                merge: bool = False) -> SaveResult:
    """Save one form instance through the whole write path.

    1. guards that need no read: role, event and form, the version and reason arguments;
    2. one read (:func:`read_for_save`), then the guards on what it found (locks, screening);
    3. normalise and validate the data; refuse a stale version;
    4. evaluate derive -> checks -> completeness -> state (:func:`ecrf.records.rules.evaluate`);
       an unchanged record is returned as it stands; changing or removing a saved value needs a reason
       (:func:`reason_needed`);
    5. the record's event, and the subject's status move, appended in one round trip;
    6. after the save: projection, broken checks, queries, dependent records, SAE reports, enrollment.

    Refuses with 404 (unknown or invisible subject, event, form), 403 (role),
    423 (locked), 422 (hard validation, with JSON pointers), 409 (stale
    version) or 400 (a change without a reason) and then stores nothing.

    ``provenance`` (a data import's: the source file and its audit record) lands in the audit
    event's context, under the event's hash; a save with provenance takes the import permission (a
    migration's, whose provenance names the amendment, the amendment permission).

    ``merge`` (the API's PUT) reads ``data`` as changes to the stored data (:func:`merged`);
    without it ``data`` is the whole form, as the HTML form page posts it.
    """
    require(user, Action.ENTER_DATA if provenance is None
            else Action.AMEND_STUDY if "amendment" in provenance else Action.IMPORT_DATA)
    event, form = study.form_in_event(event_oid, form_oid)
    reason = _checked_arguments(version, reason)
    stream = record_stream(study.oid, subject_id, event_oid, form_oid)
    # The projection stands for its stream's head; if it lags (a crash between
    # append and projection) the append below collides and the save is refused.
    read = read_for_save(study, user, subject_id, form, stream)
    if (pinned := subject_runtime(study, read.subject)) is not study:  # the casebook's own study version
        return save_record(pinned, user, subject_id, event_oid, form_oid, data, version, reason, provenance, merge)
    _refuse_closed(study, read, event_oid, form_oid)
    stored = read.stored
    old = (stored or {}).get("data") or {}
    kept, retired = split_retired(form, stored)
    data = resent_dropped(data, retired)
    new = _valid_data(form, merged(kept, data) if merge else data, kept, stored, version)
    changes = diff(old, new)
    scope = build_scope(study, read.subject, event, form, new, records_by_event(read.others), read.site_ranges)
    rules = evaluate(study, form, scope, stored, changes)
    if retired:
        rules.state["retired"] = retired
    if stored is not None and not changes and not rules.differs_from(stored):
        return SaveResult(stored, created=False, changed=False, findings=rules.findings, missing=rules.missing)
    if reason_needed([change for change in changes if not is_retirement(change, retired)]) and not reason:
        raise ReasonRequired("a reason for change is required to change or remove a saved value",
                             [FieldError("/reason", "required for a change to saved data")])
    identity = {"study": study.oid, "subject": read.subject.subject_id, "site": read.subject.site,
                "event": event_oid, "form": form_oid}
    context = identity if provenance is None else {**identity, "provenance": provenance}
    reviewed = _reviews_cleared(rules.state, stored, form, new, changes, user)
    record_event = _record_event(stream, user, stored, changes, reason, reviewed, context)
    status = enrollment_status(study, event_oid, form_oid, {**new, **rules.derived})
    appended, moved = _append(stream, record_event,
                              status_event(study, read.subject, status, user.username, subject_head(read.subject)))
    record = project(appended, identity, stored)
    _after_save(study, form, read.subject, identity, new, rules, appended, user, stored is None)
    update_enrollment(study, read.subject, status, user.username, moved=moved)
    return SaveResult(record, created=stored is None, changed=True, findings=rules.findings, missing=rules.missing)


def reason_needed(changes: list[dict]) -> list[dict]:
    """The changes that need a reason: those that change or remove a saved non-empty value.

    A first entry into a blank item, or a new repeating row, needs none (21 CFR
    11.10(e) asks the trail to keep earlier entries, and a blank one hides nothing).
    """
    return [change for change in changes if not _empty(change["old"])]


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _checked_arguments(version: Any, reason: Any) -> str | None:
    """The reason for change, stripped (None when empty); 422 for a version or reason of the wrong kind."""
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        fault = FieldError("/version", "must be an integer ≥ 0 or null")
        raise Invalid("version must be a whole number or null", [fault])
    if reason is not None and not isinstance(reason, str):
        raise Invalid("reason must be text", [FieldError("/reason", "must be a string")])
    check_text(reason, "/reason", multiline=True, max_length=MAX_REASON, label="Reason for change")
    return (reason or "").strip() or None


def merged(stored: dict, data: Any) -> Any:
    """The stored data with ``data``'s items in place of theirs: ``null`` clears an item, an absent one is kept.

    A repeating group's value is its whole list of rows (matched to the stored rows by row id when
    normalised). Anything but an object is returned as it is, for validation to name.
    """
    return {**stored, **data} if isinstance(data, dict) else data


def _refuse_closed(study: StudyRuntime, read: SaveInputs, event_oid: str, form_oid: str) -> None:
    """423 for a locked or frozen record or a new record in a held container; 409 after a failed screening."""
    stored, subject = read.stored, read.subject
    if stored and (stored.get("locked") or stored.get("frozen")):
        raise Locked(
            f"{form_oid} at {event_oid} is {'locked' if stored.get('locked') else 'frozen'}; no change is possible"
        )
    if subject.status == "screen_failed" and event_oid not in study.definition.get("enrollment", {}).get(
        "screening_events", []
    ):
        raise Conflict(f"subject {subject.subject_id} failed screening; only screening data can be entered")
    if stored is None and read.held:
        raise Locked(f"subject {subject.subject_id} is {read.held}; no new data can be entered")


def _valid_data(form, data: Any, old: dict, stored: dict | None, version: int | None) -> dict:
    """The data normalised and validated (422 naming each fault), at the stored version (else 409)."""
    new = normalise(form, data, old)
    errors = validate(form, new)
    if errors:
        raise Invalid(f"{len(errors)} item(s) failed validation", errors)
    at_version = (stored or {}).get("version", 0)
    if (version or 0) != at_version:
        raise Conflict(f"the record is at version {at_version}, not {version or 0}; reload and try again")
    return new


def _reviews_cleared(state: dict, stored: dict | None, form: CompiledForm, new: dict, changes: list[dict],
                     user) -> dict:
    """The state to store: a change to signed data clears the signature; to verified items, their verification only.

    Each verified item changed leaves a "changed since SDV" marker (:func:`ecrf.sdv.reset_on_change`).
    """
    if not changes or not stored:
        return state
    cleared = {**state, **({"signature": None} if stored.get("signature") else {})}
    return {**cleared, **reset_on_change(stored, form, new, changes, user)}


def _record_event(
    stream: str, user, stored: dict | None, changes: list[dict], reason: str | None, state: dict, identity: dict
) -> dict:
    """:meth:`audit.AuditStore.append_all` arguments of the record's event (create, update or rederive)."""
    at_version = (stored or {}).get("version", 0)
    head = {"seq": at_version, "hash": stored.get("head")} if stored else {"seq": 0, "hash": GENESIS}
    return {
        "stream": stream,
        "expected_version": at_version,
        "actor": user.username,
        "action": "create" if stored is None else ("update" if changes else "rederive"),
        "changes": changes,
        "reason": reason,
        "state": state,
        "context": identity,
        "head": head,
    }


def _append(stream: str, record_event: dict, moved_event: dict | None) -> tuple[dict, dict | None]:
    """Append the record's event and the subject's status move in one round trip, the record's first.

    Returns the record's appended event and the status event (None when not
    appended: no move, or the subject moved meanwhile and the enrollment
    update re-reads it). 409 when someone saved the record first.
    """
    try:
        appended, *moved = audit_store().append_all([record_event, *([moved_event] if moved_event else [])])
    except StaleVersion as stale:
        if not stale.stored:
            current(stream)  # bring a lagging projection forward for the retry
            raise Conflict("someone saved this record first; reload and try again") from None
        return stale.stored[0], None
    return appended, moved[0] if moved else None


def _after_save(
    study: StudyRuntime,
    form,
    subject: Subject,
    identity: dict,
    data: dict,
    rules: Evaluation,
    appended: dict,
    user,
    new_record: bool,
) -> None:
    """What follows a stored save; none of these steps fails it (each logs its own failure)."""
    report_broken(study, form, rules.broken, appended["stream"])
    sync_queries(
        study,
        form,
        identity,
        data,
        rules.findings,
        f"change {appended['seq']} by {user.username}",
        new_record=new_record,
    )
    recheck_dependents(study, subject, identity["event"], identity["form"])
    open_reports_quietly(study, identity, data, rules.derived, user.username)
    sync_codings(study, form, identity, data, user.username)
