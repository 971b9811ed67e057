"""Electronic signatures (21 CFR 11.50): signing a form, a visit or a casebook, and whether a signature holds.

A signature is first of all its own audit event, on
``signature/<study>/<subject>/<id>``: it names the audit heads of exactly the
records its scope covers, and the ``signatures`` collection is its projection.
Its standing is read from the trail, never stored: it holds until a record it
covers changes (data or a recomputed derived value) or is unlocked, or a record
is added to the signed visit or casebook. Signing, verifying, freezing or
locking never voids a signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from mongoengine import DateTimeField, DictField, Document, ListField, NotUniqueError, StringField

from audit import canonical_json
from ecrf.errors import Conflict, FieldError, Invalid, Locked

# The record helpers every review event shares (read the scope's records, append to a record's stream).
from ecrf.lifecycle import _append, _one, _records, refuse_review_if_locked
from ecrf.roles import Action, require
from ecrf.studies import StudyRuntime
from ecrf.subjects import get_subject
from ecrf.text import MAX_MEANING, check_text
from ecrf.trail import audit_store

SIGNATURE_MEANING = "I attest that I have reviewed the data and it is accurate and complete"


class Signature(Document):
    """The signature manifest (21 CFR 11.50): who, printed name, when, meaning, what exactly.

    A projection of the ``sign`` event on the signature's own audit stream
    (:func:`signature_stream`): the event is written first, this document is
    derived from it and brought forward from it when missing.
    """

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
    covers = ListField(DictField())  # [{"stream", "seq", "hash"}]: exactly the record heads signed
    digest = StringField()  # SHA-256 over the canonical JSON of ``covers``: the data the signature binds to
    stream = StringField()  # the signature's audit stream (None for signatures made before they had one)
    override = DictField()  # signed despite obstacles: {"reason", "counts", "obstacles"} (ecrf.readiness)
    meta = {"collection": "signatures", "indexes": [("study", "subject")]}

    standing: Standing | None = None  # set by subject_signatures(); not stored

    def current_standing(self) -> Standing:
        """Whether the signature holds now, and if not the first event that voided it."""
        for signature in subject_signatures(self.study, self.subject):
            if signature.signature_id == self.signature_id:
                return signature.standing
        return Standing(False, "no audit event records this signature")

    def is_valid(self) -> bool:
        """True while nothing it covers changed since signing and no unlock cleared it."""
        return self.current_standing().valid


# Events on a record stream that may change what a signature covers (its data or derived values).
DATA_ACTIONS = ("create", "update", "rederive", "recheck")
# The events a signature's standing is decided by: data events, unlocks and signs.
TRAIL_ACTIONS = (*DATA_ACTIONS, "unlock", "sign")
# What standing needs of the subject's events: one query on the ``subject_time`` index.
TRAIL_FIELDS = {"_id": 0, "stream": 1, "seq": 1, "at": 1, "actor": 1, "action": 1, "reason": 1,
                "changes.path": 1, "state.derived": 1, "state.signature": 1, "context.event": 1, "context.form": 1}
SCOPE_NAMES = {"record": "form", "event": "visit", "subject": "casebook"}


@dataclass(frozen=True)
class Standing:
    """Whether a signature holds; if not, why (``reason``) and the event that voided it (``voided_by``)."""

    valid: bool
    reason: str | None = None
    voided_by: dict | None = None  # {"stream", "seq", "action", "actor", "at", "reason"}


def signature_stream(study: str, subject: str, signature_id: str) -> str:
    """The audit stream of one signature: its ``sign`` event is the signature."""
    return f"signature/{study}/{subject}/{signature_id}"


def _in_scope(study: StudyRuntime, user, subject, event: str | None, form: str | None) -> tuple[str, list[dict]]:
    """The scope's name and the current records it covers."""
    if form and event:
        return "record", [_one(study, user, subject.subject_id, event, form)]
    if event:
        study.event(event)
        return "event", _records(study, subject.subject_id, event)
    return "subject", _records(study, subject.subject_id)


def _covers(records: list[dict]) -> list[dict]:
    return [
        {"stream": r["_id"], "seq": r["version"], "hash": r["head"]} for r in sorted(records, key=lambda r: r["_id"])
    ]


def covers_digest(covers: Any) -> str | None:
    """The SHA-256 over the canonical JSON of ``covers``: what a signature binds to (None if it cannot be written)."""
    try:
        return hashlib.sha256(canonical_json(covers)).hexdigest()
    except (TypeError, ValueError):
        return None


def sign(
    study: StudyRuntime,
    user,
    password: Any,
    *,
    subject_id: str,
    event: str | None = None,
    form: str | None = None,
    meaning: Any = None,
    check_password: Callable[[Any, str], Any],
    override: dict | None = None,
) -> Signature:
    """The investigator signs a record, a visit or a whole casebook, re-entering the password.

    ``check_password(user, password)`` must raise :class:`NotAuthenticated`
    on a wrong password (and count it toward lockout). The signature binds to
    the audit heads of exactly the records its scope covers (``covers`` and
    their ``digest``) and holds until one of them changes or is unlocked.

    1. read the records of the scope; refuse locked ones (423) or none (409)
    2. check the password (401), then read the records again: anything that
       moved meanwhile refuses the sign (409) and nothing is written
       (``override``: the reason to sign despite obstacles, :func:`ecrf.readiness.override`, kept in the event)
    3. append the ``sign`` event on the signature's own stream: the signature
    4. project it into ``signatures``
    5. stamp each record's lifecycle with a ``sign`` event (a save that got
       there first already voided the signature, with its reason)
    """
    require(user, Action.SIGN)
    if not isinstance(password, str) or not password:
        raise Invalid("password is required to sign", [FieldError("/password", "re-enter your password")])
    check_text(meaning, "/meaning", max_length=MAX_MEANING, label="Meaning")
    subject = get_subject(study, user, subject_id)
    refuse_review_if_locked(study.oid, subject.subject_id, None, "nothing in it can be signed")
    scope, records = _in_scope(study, user, subject, event, form)
    if not records:
        raise Conflict("nothing saved to sign")
    if any(r.get("locked") for r in records):
        raise Locked("a locked record cannot be signed")
    check_password(user, password)
    covers = _covers(records)
    if _covers(_in_scope(study, user, subject, event, form)[1]) != covers:
        raise Conflict("the data changed while signing; review it and sign again")
    meaning = meaning.strip() if isinstance(meaning, str) and meaning.strip() else SIGNATURE_MEANING
    signature_id = str(ObjectId())
    manifest = {
        "id": signature_id,
        "scope": scope,
        "signer": user.username,
        "printed_name": user.display_name,
        "meaning": meaning,
        "covers": covers,
        "digest": covers_digest(covers),
        **({"override": override} if override else {}),
    }
    context = {"study": study.oid, "subject": subject.subject_id, "site": subject.site, "event": event, "form": form}
    signed = audit_store().append(
        signature_stream(study.oid, subject.subject_id, signature_id),
        0,
        actor=user.username,
        action="sign",
        state={"signature": manifest},
        reason=override["reason"] if override else None,
        context=context,
    )
    signature = _project_signature(signed)
    for record in records:
        try:
            _append(
                record,
                user.username,
                "sign",
                {
                    "signature": {
                        "id": signature_id,
                        "by": user.username,
                        "name": user.display_name,
                        "at": signature.at,
                        "meaning": meaning,
                        "signed_head": record["head"],
                    }
                },
            )
        except Conflict:
            continue  # a save got there first: it voids the signature, and says so
    return signature


def signature_from_event(event: dict) -> Signature:
    """The ``signatures`` document a ``sign`` event on a signature stream projects to (not saved)."""
    manifest, context = event["state"]["signature"], event.get("context") or {}
    covers = manifest["covers"]
    return Signature(
        signature_id=manifest["id"],
        study=context["study"],
        subject=context["subject"],
        site=context["site"],
        scope=manifest["scope"],
        event=context.get("event"),
        form=context.get("form"),
        signer=manifest["signer"],
        printed_name=manifest["printed_name"],
        meaning=manifest["meaning"],
        at=event["at"],
        heads={c["stream"]: c["hash"] for c in covers},
        covers=covers,
        digest=manifest["digest"],
        stream=event["stream"],
        override=manifest.get("override") or {},
    )


def _project_signature(event: dict) -> Signature:
    """The ``signatures`` document of a ``sign`` event (inserted unless already there)."""
    signature = signature_from_event(event)
    try:
        signature.save(force_insert=True)
    except NotUniqueError:
        pass  # projected already (by another reader bringing it forward)
    return signature


def signatures_of(study: StudyRuntime, user, subject_id: str) -> list[Signature]:
    """The subject's signatures, oldest first, each with its :class:`Standing` (404 if not visible)."""
    subject = get_subject(study, user, subject_id)
    return subject_signatures(study.oid, subject.subject_id)


def subject_trail(study_oid: str, subject_id: str) -> list[dict]:
    """The subject's events that decide its signatures' standing, oldest first."""
    cursor = audit_store().collection.find(
        {"context.study": study_oid, "context.subject": subject_id, "action": {"$in": list(TRAIL_ACTIONS)}},
        TRAIL_FIELDS,
    )
    return sorted(cursor, key=lambda e: (e["stream"], e["seq"]))


def subject_signatures(study_oid: str, subject_id: str, trail: list[dict] | None = None) -> list[Signature]:
    """Every signature of the subject, oldest first, with its standing set; what the API, pages and exports show.

    The signatures are read from their audit events (a ``signatures``
    document missing for one is written back); signatures from before
    they had their own stream are taken from the collection, covering the
    records their ``sign`` stamps name.
    """
    trail = subject_trail(study_oid, subject_id) if trail is None else trail
    stored = {s.signature_id: s for s in Signature.objects(study=study_oid, subject=subject_id)}
    signatures = []
    for event in trail:
        if event["stream"].startswith("signature/") and event["action"] == "sign":
            signature_id = event["state"]["signature"]["id"]
            signatures.append(
                stored.pop(signature_id, None) or _project_signature(audit_store().events(event["stream"])[0])
            )
    signatures += stored.values()
    for signature in signatures:
        signature.standing = standing(signature, trail)
    return sorted(signatures, key=lambda s: (s.at, s.signature_id))


def _legacy_covers(signature: Signature, trail: list[dict]) -> list[dict]:
    """What a signature made before signature streams covered: the heads its record stamps name."""
    return [
        {"stream": e["stream"], "seq": e["seq"] - 1, "hash": e["state"]["signature"].get("signed_head")}
        for e in trail
        if e["action"] == "sign"
        and e["stream"].startswith("record/")
        and ((e.get("state") or {}).get("signature") or {}).get("id") == signature.signature_id
    ]


def standing(signature: Signature, trail: list[dict]) -> Standing:
    """Whether ``signature`` holds against the subject's ``trail`` (:func:`subject_trail`).

    It is voided by the first of: a data change (or a recomputed derived
    value) of a record it covers, an unlock of one, or a record added to
    its visit or casebook after it was signed. Events that only verify,
    sign, lock or freeze never void it.
    """
    covers = signature.covers if signature.stream else _legacy_covers(signature, trail)
    if not covers:
        return Standing(False, "no audit event records this signature: the sign did not complete")
    by_stream: dict[str, list[dict]] = {}
    for event in trail:
        if event["stream"].startswith("record/"):
            by_stream.setdefault(event["stream"], []).append(event)
    voiding = [v for c in covers if (v := _first_voiding(c, by_stream.get(c["stream"], []))) is not None]
    covered = {c["stream"] for c in covers}
    if signature.scope != "record":
        added = [
            events[0]
            for stream, events in by_stream.items()
            if stream not in covered
            and events[0]["action"] == "create"
            and (signature.scope == "subject" or (events[0].get("context") or {}).get("event") == signature.event)
        ]
        voiding += [(event, "added after signing") for event in added]
    if not voiding:
        return Standing(True)
    event, why = min(voiding, key=lambda v: (v[0]["at"], v[0]["stream"], v[0]["seq"]))
    context = event.get("context") or {}
    where = f"{context.get('form')} at {context.get('event')}"
    reason = f"{where} {why} by {event['actor']} at {iso_text(event['at'])} (seq {event['seq']})"
    if event.get("reason"):
        reason += f": {event['reason']}"
    return Standing(False, reason, {k: event.get(k) for k in ("stream", "seq", "action", "actor", "at", "reason")})


def _first_voiding(cover: dict, events: list[dict]) -> tuple[dict, str] | None:
    """The first event after the signed head that changes the record's data or derived values, or unlocks it."""
    derived = None
    for event in events:
        changes_derived = "derived" in (event.get("state") or {}) and event["state"]["derived"] != derived
        if event["action"] in DATA_ACTIONS and "derived" in (event.get("state") or {}):
            derived = event["state"]["derived"]
        if event["seq"] <= cover["seq"]:
            continue
        if event["action"] == "unlock":
            return event, "unlocked"
        if event["action"] in DATA_ACTIONS and (event.get("changes") or changes_derived):
            return event, "changed" if event.get("changes") else "derived values recomputed"
    return None


def iso_text(value: dt.datetime) -> str:
    """UTC text of a time to the second, as the reasons give it."""
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
