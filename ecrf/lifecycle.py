"""Review and lock: source data verification, freezing and locking.

Each step is an audit event on the record's own stream, so the record's
lifecycle replays like its data:

    incomplete/complete --sdv--> verified --sign--> signed --lock--> locked
    a data change clears the signature, and the SDV of the changed items only, leaving a marker (ecrf.sdv)
    unlock (reason required) returns the record to its state before the lock, signature cleared
    freeze: data cannot change, queries, SDV and signatures still can (a study's freeze stops them too)

Locks and freezes can cover one record, a visit, a subject or the whole study;
a subject or study lock also refuses records not saved yet. Signatures, and
what voids them, are :mod:`ecrf.signatures`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from audit import StaleVersion, utc_now
from ecrf.errors import Conflict, FieldError, Invalid, Locked, NotFound
from ecrf.locks import ContainerLock, container_key, container_keys
from ecrf.pointers import item_pointer_fault
from ecrf.records.document import Record, current, project
from ecrf.roles import Action, require
from ecrf.sdv import required_items, verification
from ecrf.studies import StudyRuntime
from ecrf.subjects import get_subject
from ecrf.text import MAX_REASON, check_text
from ecrf.trail import audit_store, record_admin_event, record_stream


def refuse_review_if_locked(study: str, subject: str, record: dict | None, what: str) -> None:
    """:class:`Locked` (423) unless a review action (query, SDV, signature) may touch the subject's record.

    A lock refuses it at every scope (record or visit, subject, study), and so
    does a freeze of the whole study; a freeze of a record, visit or subject
    stops only its data, so that its review can finish.
    """
    kinds = {doc["_id"]: doc.get("kind") for doc in
             ContainerLock._get_collection().find({"_id": {"$in": container_keys(study, subject)}}, {"kind": 1})}
    if kinds.get(container_key(study)):
        raise Locked(f"study {study} is {kinds[container_key(study)]}; {what}")
    if kinds.get(container_key(study, subject)) == "locked":
        raise Locked(f"subject {subject} is locked; {what}")
    if record and record.get("locked"):
        raise Locked(f"{record['form']} at {record['event']} is locked; {what}")


def lifecycle_state(record: dict | None) -> str:
    """The one word that says where a record stands."""
    if not record:
        return "not_started"
    if record.get("locked"):
        return "locked"
    if record.get("frozen"):
        return "frozen"
    if record.get("signature"):
        return "signed"
    if record.get("sdv"):
        return "verified"
    return record.get("status") or "incomplete"


# ---------------------------------------------------------------- helpers


def _records(study: StudyRuntime, subject: str | None = None, event: str | None = None,
             form: str | None = None, sites: list[str] | None = None) -> list[dict]:
    query: dict[str, Any] = {"study": study.oid}
    for key, value in (("subject", subject), ("event", event), ("form", form)):
        if value:
            query[key] = value
    if sites is not None:
        query["site"] = {"$in": sites}
    streams = [d["_id"] for d in Record._get_collection().find(query, {"_id": 1}).sort("_id", 1)]
    return [current(stream) for stream in streams]


def _append(stored: dict, actor: str, action: str, state: dict, reason: str | None = None) -> dict:
    identity = {k: stored[k] for k in ("study", "subject", "site", "event", "form")}
    try:
        event = audit_store().append(stored["_id"], stored["version"], actor=actor, action=action,
                                     state=state, reason=reason, context=identity,
                                     head={"seq": stored["version"], "hash": stored.get("head")})
    except StaleVersion:
        raise Conflict(f"{stored['form']} at {stored['event']} changed meanwhile; reload and try again") from None
    project(event, identity, stored)
    return event


def _one(study: StudyRuntime, user, subject_id: str, event: str, form: str) -> dict:

    subject = get_subject(study, user, subject_id)
    study.form_in_event(event, form)
    stored = current(record_stream(study.oid, subject.subject_id, event, form))
    if stored is None:
        raise NotFound(f"nothing saved yet for {form} at {event}")
    return stored


def _reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid("a reason is required", [FieldError("/reason", "required")])
    check_text(reason, "/reason", multiline=True, max_length=MAX_REASON, label="Reason")
    return reason.strip()


def _now_entry(user) -> dict:
    return {"by": user.username, "name": user.display_name, "at": utc_now()}


# ---------------------------------------------------------------- SDV


def verify(study: StudyRuntime, user, subject_id: str, event: str, form: str, items: list[str] | None = None,
           required_only: bool = False) -> dict:
    """Source data verification by a monitor: the whole form, the listed items only, or (``required_only``)
    the items the study's targeted-SDV setting asks for (the whole form when it asks for none).

    Each item keeps who verified it, when, and a hash of the value seen; verifying an item clears its
    "changed since SDV" marker; the form's own stamp follows once every item the study's targeted-SDV
    setting asks for is verified (:func:`ecrf.sdv.verification`).
    """
    require(user, Action.VERIFY)
    stored = _one(study, user, subject_id, event, form)
    refuse_review_if_locked(study.oid, stored["subject"], stored, "no source data verification is possible")
    compiled = study.form(form)
    if items:
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise Invalid("items must be a list of JSON pointers", [FieldError("/items", "list of pointers")])
        faults = [FieldError(f"/items/{index}", fault) for index, item in enumerate(items)
                  if (fault := item_pointer_fault(compiled, item, stored.get("data") or {}))]
        if faults:
            raise Invalid("unknown items", faults)
    required = required_items(study, compiled, stored["subject"], stored["site"])
    chosen = (list(dict.fromkeys(items)) if items else required if required_only and required
              else [f"/{item.oid}" for item in compiled.items])
    whole = set(chosen) == {f"/{item.oid}" for item in compiled.items}
    _append(stored, user.username, "sdv" if whole else "sdv_items",
            verification(stored, compiled, chosen, user, required))
    return _one(study, user, subject_id, event, form)


# ---------------------------------------------------------------- lock, unlock, freeze


def _bulk(records: Iterable[dict], apply: Callable[[dict], bool], progress=None) -> int:
    done = 0
    for record in records:
        if apply(record):
            done += 1
        if progress:
            progress(1)
    return done


def set_lock(study: StudyRuntime, user, kind: str, on: bool, *, subject_id: str | None = None,
             event: str | None = None, form: str | None = None, reason: Any = None, progress=None,
             override: dict | None = None) -> int:
    """Lock/unlock or freeze/unfreeze one record, a visit, a subject or the whole study.

    Returns how many records changed. Unlock needs a reason; it clears the
    signature and otherwise leaves the record as it was before the lock.
    ``override`` (a lock or freeze taken despite obstacles, :func:`ecrf.readiness.override`)
    is kept in each lock event and in the subject's or study's own.
    """
    require(user, Action.LOCK)
    if kind not in ("locked", "frozen"):
        raise ValueError(kind)
    if kind == "locked" and not on:
        reason = _reason(reason)
    elif reason is not None and not isinstance(reason, str):
        raise Invalid("reason must be text", [FieldError("/reason", "must be a string")])
    check_text(reason, "/reason", multiline=True, max_length=MAX_REASON, label="Reason")
    subject = get_subject(study, user, subject_id) if subject_id else None
    if form and event:
        records = [_one(study, user, subject_id, event, form)]
    else:
        if event:
            study.event(event)
        records = _records(study, subject.subject_id if subject else None, event, sites=user.site_filter())
    action = {("locked", True): "lock", ("locked", False): "unlock",
              ("frozen", True): "freeze", ("frozen", False): "unfreeze"}[(kind, on)]
    entry = {**_now_entry(user), **({"reason": reason.strip()} if isinstance(reason, str) and reason.strip() else {}),
             **({"override": override} if override else {})}
    event_reason = reason if isinstance(reason, str) and reason.strip() else (override or {}).get("reason")

    def apply(record: dict) -> bool:
        if kind == "frozen" and record.get("locked"):
            if form:
                raise Locked("the record is locked; unlock it before freezing or unfreezing")
            return False
        if bool(record.get(kind)) == on:
            return False
        state = {kind: entry if on else None}
        if action == "unlock":
            state["signature"] = None
        _append(record, user.username, action, state, event_reason)
        return True

    # A visit's lock covers its records only, never the subject's container.
    key = container_key(study.oid, subject.subject_id if subject else None) if not form and not event else None
    if key and on and not (kind == "frozen" and ContainerLock.objects(key=key, kind="locked").first()):
        # Held before the records are locked one by one, so that nothing new slips in meanwhile;
        # a lock is never weakened to a freeze.
        ContainerLock.objects(key=key).update_one(set__kind=kind, set__by=user.username, set__at=utc_now(), upsert=True)
    changed = _bulk(records, apply, progress)
    if key:
        if not on:
            ContainerLock.objects(key=key, kind=kind).delete()
        details = {"records": changed, **({"override": override} if override else {})}
        record_admin_event(key, user.username, action, details,
                           context={"study": study.oid, **({"subject": subject.subject_id} if subject else {})})
    return changed
