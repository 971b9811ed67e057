"""Review and lock: source data verification, electronic signatures, freezing and locking.

Each step is an audit event on the record's own stream, so the record's
lifecycle replays like its data:

    incomplete/complete --sdv--> verified --sign--> signed --lock--> locked
    a data change clears sdv and signature (audited with its reason)
    unlock (reason required) returns the record to its state before the lock, signature cleared
    freeze: data cannot change, queries still can

Locks and freezes can cover one record, a visit, a subject or the whole study;
a subject or study lock also refuses records not saved yet.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Iterable

from bson import ObjectId
from mongoengine import DateTimeField, DictField, Document, StringField

from audit import StaleVersion, utc_now
from ecrf.errors import Conflict, FieldError, Invalid, Locked, NotFound
from ecrf.pointers import item_pointer_fault
from ecrf.roles import Action
from ecrf.studies import StudyRuntime
from ecrf.subjects import get_subject, require
from ecrf.text import MAX_MEANING, MAX_REASON, check_text
from ecrf.trail import audit_store, record_admin_event

SIGNATURE_MEANING = "I attest that I have reviewed the data and it is accurate and complete"


class Signature(Document):
    """The signature manifest (21 CFR 11.50): who, printed name, when, meaning, what exactly."""

    signature_id = StringField(primary_key=True)
    study = StringField(required=True)
    subject = StringField(required=True)
    site = StringField(required=True)
    scope = StringField(required=True, choices=("record", "event", "subject"))
    event = StringField()
    form = StringField()
    signer = StringField(required=True)
    printed_name = StringField(required=True)
    meaning = StringField(required=True)
    at = DateTimeField(required=True)
    heads = DictField()  # stream -> hash of the audit head that was signed
    meta = {"collection": "signatures", "indexes": [("study", "subject")]}

    def as_dict(self, valid: bool | None = None) -> dict:
        from ecrf.api import iso
        from ecrf.sites import site_timezone

        tz = site_timezone(self.site)
        at = self.at if self.at.tzinfo else self.at.replace(tzinfo=dt.timezone.utc)
        return {"id": self.signature_id, "scope": self.scope, "subject": self.subject, "event": self.event,
                "form": self.form, "signer": self.signer, "printed_name": self.printed_name,
                "meaning": self.meaning, "at": iso(self.at), "at_site": at.astimezone(tz).isoformat(timespec="seconds"),
                "site_timezone": tz.key, "records": sorted(self.heads),
                "valid": self.is_valid() if valid is None else valid}

    def is_valid(self) -> bool:
        """True while every signed record still carries this signature (no change since)."""
        from ecrf.records import Record

        carried = Record.objects(stream__in=list(self.heads)).only("stream", "signature").as_pymongo()
        found = {doc["_id"]: (doc.get("signature") or {}).get("id") for doc in carried}
        return len(found) == len(self.heads) and all(v == self.signature_id for v in found.values())


class ContainerLock(Document):
    """A lock or freeze over a whole subject or study (refuses new records too)."""

    key = StringField(primary_key=True)  # "study/<oid>" or "subject/<oid>/<id>"
    kind = StringField(required=True, choices=("locked", "frozen"))
    by = StringField()
    at = DateTimeField()
    meta = {"collection": "container_locks"}


def container_key(study: str, subject: str | None = None) -> str:
    """The key of the lock over a whole subject, or over the whole study when no subject is given."""
    return f"subject/{study}/{subject}" if subject else f"study/{study}"


def container_keys(study: str, subject: str) -> list[str]:
    """The keys of every container lock that covers the subject: the study's and its own."""
    return [container_key(study), container_key(study, subject)]


def held_kind(locks: Iterable[dict]) -> str | None:
    """``"locked"``, ``"frozen"`` or None, of the container lock documents covering one subject."""
    kinds = {lock.get("kind") for lock in locks}
    return "locked" if "locked" in kinds else ("frozen" if "frozen" in kinds else None)


def container_state(study: str, subject: str) -> str | None:
    """``"locked"``, ``"frozen"`` or None for the subject (its own lock or the study's)."""
    return held_kind(ContainerLock._get_collection().find({"_id": {"$in": container_keys(study, subject)}}, {"kind": 1}))


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
    from ecrf.records import Record, current

    query: dict[str, Any] = {"study": study.oid}
    for key, value in (("subject", subject), ("event", event), ("form", form)):
        if value:
            query[key] = value
    if sites is not None:
        query["site"] = {"$in": sites}
    streams = [d["_id"] for d in Record._get_collection().find(query, {"_id": 1}).sort("_id", 1)]
    return [current(stream) for stream in streams]


def _append(stored: dict, actor: str, action: str, state: dict, reason: str | None = None) -> dict:
    from ecrf.records import project

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
    from ecrf.records import current
    from ecrf.trail import record_stream

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


def verify(study: StudyRuntime, user, subject_id: str, event: str, form: str, items: list[str] | None = None) -> dict:
    """Source data verification by a monitor: the whole form, or the listed items only."""
    require(user, Action.VERIFY)
    stored = _one(study, user, subject_id, event, form)
    if stored.get("locked"):
        raise Locked("the record is locked")
    entry = {**_now_entry(user), "version": stored["version"]}
    if items:
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise Invalid("items must be a list of JSON pointers", [FieldError("/items", "list of pointers")])
        compiled = study.form(form)
        faults = [FieldError(f"/items/{index}", fault) for index, item in enumerate(items)
                  if (fault := item_pointer_fault(compiled, item, stored.get("data") or {}))]
        if faults:
            raise Invalid("unknown items", faults)
        sdv_items = dict(stored.get("sdv_items") or {})
        sdv_items.update({item: entry for item in items})
        _append(stored, user.username, "sdv_items", {"sdv_items": sdv_items})
    else:
        _append(stored, user.username, "sdv", {"sdv": entry})
    return _one(study, user, subject_id, event, form)


# ---------------------------------------------------------------- signatures


def sign(study: StudyRuntime, user, password: Any, *, subject_id: str, event: str | None = None,
         form: str | None = None, meaning: Any = None, check_password: Callable[[Any, str], Any]) -> Signature:
    """The investigator signs a record, a visit or a whole casebook, re-entering the password.

    ``check_password(user, password)`` must raise :class:`NotAuthenticated`
    on a wrong password (and count it toward lockout). The signature binds to
    the audit heads of the signed records: any later change voids it.
    """
    require(user, Action.SIGN)
    if not isinstance(password, str) or not password:
        raise Invalid("password is required to sign", [FieldError("/password", "re-enter your password")])
    check_text(meaning, "/meaning", max_length=MAX_MEANING, label="Meaning")
    subject = get_subject(study, user, subject_id)
    if form and event:
        records = [_one(study, user, subject_id, event, form)]
        scope = "record"
    elif event:
        study.event(event)
        records = _records(study, subject.subject_id, event)
        scope = "event"
    else:
        records = _records(study, subject.subject_id)
        scope = "subject"
    if not records:
        raise Conflict("nothing saved to sign")
    if any(r.get("locked") for r in records):
        raise Locked("a locked record cannot be signed")
    check_password(user, password)
    meaning = meaning.strip() if isinstance(meaning, str) and meaning.strip() else SIGNATURE_MEANING
    signature = Signature(
        signature_id=str(ObjectId()), study=study.oid, subject=subject.subject_id, site=subject.site, scope=scope,
        event=event, form=form, signer=user.username, printed_name=user.display_name, meaning=meaning,
        at=utc_now(), heads={r["_id"]: r["head"] for r in records},
    )
    signature.save(force_insert=True)
    for record in records:
        _append(record, user.username, "sign", {"signature": {
            "id": signature.signature_id, "by": user.username, "name": user.display_name,
            "at": signature.at, "meaning": meaning, "signed_head": record["head"]}})
    return signature


def signatures_of(study: StudyRuntime, user, subject_id: str) -> list[Signature]:
    """The subject's signatures, oldest first."""
    subject = get_subject(study, user, subject_id)
    return list(Signature.objects(study=study.oid, subject=subject.subject_id).order_by("at"))


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
             event: str | None = None, form: str | None = None, reason: Any = None, progress=None) -> int:
    """Lock/unlock or freeze/unfreeze one record, a visit, a subject or the whole study.

    Returns how many records changed. Unlock needs a reason; it clears the
    signature and otherwise leaves the record as it was before the lock.
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
    entry = {**_now_entry(user), **({"reason": reason.strip()} if isinstance(reason, str) and reason.strip() else {})}

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
        _append(record, user.username, action, state, reason if isinstance(reason, str) else None)
        return True

    changed = _bulk(records, apply, progress)
    if not form and (subject or not event):
        key = container_key(study.oid, subject.subject_id if subject else None)
        if on:
            ContainerLock.objects(key=key).update_one(
                set__kind=kind, set__by=user.username, set__at=utc_now(), upsert=True)
        else:
            ContainerLock.objects(key=key, kind=kind).delete()
        record_admin_event(key, user.username, action, {"records": changed},
                           context={"study": study.oid, **({"subject": subject.subject_id} if subject else {})})
    return changed
