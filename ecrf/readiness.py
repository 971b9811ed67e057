"""Readiness for sign-off and lock: what stands against signing, freezing or locking a form, visit, casebook or study.

An obstacle does not forbid the step: it is listed to the person about to take it, who may proceed anyway with a
reason. That reason and the obstacles it overrode are kept in the signature's or the lock's own audit event
(:func:`ecrf.signatures.sign` and :func:`ecrf.lifecycle.set_lock` take them as ``override``), so that the trail
says what was known when the step was taken. With no obstacle no reason is asked.

The obstacle kinds, and which step each stands against:

- ``open_query``: a query still open or answered on an item of the scope (sign, freeze, lock)
- ``missing_item``: a required item still empty on a saved form (sign, freeze, lock)
- ``not_started``: a form the schedule expects and nothing is saved for (sign, freeze, lock)
- ``not_verified``: a form that needs source data verification and has none (sign, lock)
- ``unsigned``: a form without its investigator's signature (lock)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from ecrf import lifecycle, sdv, signatures
from ecrf.errors import Conflict, FieldError, Locked
from ecrf.locks import ContainerLock, container_key, container_state, study_closure
from ecrf.queries import OPEN_STATES, Query
from ecrf.records.document import Record
from ecrf.roles import Action, may, require
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject, get_subject
from ecrf.text import MAX_REASON, check_text

KINDS = ("open_query", "missing_item", "not_started", "not_verified", "unsigned")
# Which obstacle kinds stand against each step.
STEPS = {
    "sign": ("open_query", "missing_item", "not_started", "not_verified"),
    "freeze": ("open_query", "missing_item", "not_started"),
    "lock": KINDS,
}
KEPT = 100  # obstacles an override's audit event lists one by one (it counts them all)
_FIELDS = {"subject": 1, "site": 1, "event": 1, "form": 1, "status": 1, "sdv": 1, "signature": 1, "locked": 1,
           "sdv_items": 1, "sdv_changes": 1}


@dataclass(frozen=True)
class Obstacle:
    """One thing that stands against a step: its kind, where it is, and the item (a JSON pointer) when it is one."""

    kind: str
    subject: str
    event: str
    form: str
    item: str | None = None
    query: str | None = None  # the open query's id (``open_query``)
    label: str = ""  # the item's label in English, or the form's title

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def awaits_sdv(study: StudyRuntime, record: dict, ranks: dict[str, int] | None = None) -> bool:
    """True when the saved record has items that need source data verification (the study's targeted SDV
    setting, :mod:`ecrf.sdv`) and are not verified, or changed since they were; ``ranks``: the site ranks if read."""
    compiled = study.forms.get(record["form"])
    if compiled is None:
        return False
    required = sdv.required_items(study, compiled, record["subject"], record.get("site") or "", ranks)
    return sdv.sdv_status(record, required) not in ("verified", "not_required")


def item_label(study: StudyRuntime, form: str, pointer: str | None, lang: str = "en") -> str:
    """The label of the item a pointer names in the form (a row's item by its own label); '' when none."""
    compiled = study.forms.get(form)
    parts = (pointer or "").strip("/").split("/")
    item = compiled.item_by_oid.get(parts[0]) if compiled else None
    if item is not None and item.kind == "group" and len(parts) == 3:
        item = next((child for child in item.children if child.oid == parts[2]), item)
    return item.label(lang) if item is not None else ""


def _plan(study: StudyRuntime, subject: dict) -> list[dict]:
    """The scheduled events (neither repeating nor a log) of the subject's plan, in schedule order."""
    scheduled = [e for e in study.events if not e.get("repeating") and not e.get("log")]
    screening = set(study.definition.get("enrollment", {}).get("screening_events", []))
    if subject.get("status") == "screen_failed" and screening:
        return [e for e in scheduled if e["oid"] in screening]
    return scheduled


def expected_forms(study: StudyRuntime, subject: dict, saved: set[tuple[str, str]], event: str | None) -> list[tuple]:
    """``(event, form)`` the schedule expects of the subject in scope and nothing is saved for.

    A visit expects each of its forms. A casebook expects every form of each planned visit up to the latest
    one with data: a later visit not reached yet expects nothing, a skipped one in between does.
    """
    if event:
        events = [study.event(event)]
    else:
        plan = _plan(study, subject)
        reached = [index for index, e in enumerate(plan) if any((e["oid"], f) in saved for f in e["forms"])]
        events = plan[: reached[-1] + 1] if reached else []
    return [(e["oid"], f) for e in events for f in e["forms"] if (e["oid"], f) not in saved]


def obstacles(study: StudyRuntime, user, step: str, *, subject_id: str | None = None, event: str | None = None,
              form: str | None = None) -> list[Obstacle]:
    """What stands against ``step`` (sign, freeze or lock) on a form, a visit, a casebook or the whole study.

    The scope is the form when ``event`` and ``form`` are given, the visit with ``event`` only, the casebook
    with ``subject_id`` only, the study (the sites the user sees) with none. Obstacles come ordered by subject,
    then kind, then the schedule. One read each of the subjects, records and open queries in scope.

    :raise 404: a subject the user may not see, an unknown event or form.
    """
    require(user, Action.VIEW_DATA)
    kinds = STEPS[step]
    query: dict[str, Any] = {"study": study.oid}
    if subject_id:
        found = get_subject(study, user, subject_id)
        query["subject"] = found.subject_id
        subjects = {found.subject_id: {"status": found.status}}
    else:
        sites = user.site_filter()
        if sites is not None:
            query["site"] = {"$in": sites}
        subjects = {s["subject_id"]: s for s in Subject._get_collection().find(query, {"subject_id": 1, "status": 1})}
    if form and event:
        study.form_in_event(event, form)
        query.update(event=event, form=form)
    elif event:
        study.event(event)
        query["event"] = event
    # What the step has already done (a locked record, a frozen one for a freeze) meets no obstacle: the step
    # leaves it as it is, and a locked one answers 423 to a signature.
    everything = list(Record._get_collection().find(query, _FIELDS))
    done = {(r["subject"], r["event"], r["form"]) for r in everything if _already(step, r)}
    records = [r for r in everything if (r["subject"], r["event"], r["form"]) not in done]
    found_obstacles: list[Obstacle] = []
    if "open_query" in kinds:
        found_obstacles += [
            Obstacle("open_query", q["subject"], q["event"], q["form"], q["item"], q["_id"])
            for q in Query._get_collection().find({**query, "state": {"$in": list(OPEN_STATES)}},
                                                  {"subject": 1, "event": 1, "form": 1, "item": 1})
            if (q["subject"], q["event"], q["form"]) not in done
        ]
    if "missing_item" in kinds:
        incomplete = [r["_id"] for r in records if r.get("status") == "incomplete"]
        for record in Record._get_collection().find({"_id": {"$in": incomplete}}, {**_FIELDS, "data": 1}):
            compiled = study.forms.get(record["form"])
            missing = compiled.missing_items(record.get("data") or {}) if compiled else []
            found_obstacles += [Obstacle("missing_item", record["subject"], record["event"], record["form"], item)
                                for item in missing]
    if "not_started" in kinds and not form:
        saved: dict[str, set] = {sid: set() for sid in subjects}
        for record in everything:
            saved.setdefault(record["subject"], set()).add((record["event"], record["form"]))
        closed = _closed_subjects(study.oid, list(subjects), step)
        for sid, subject in subjects.items():
            if sid in closed:
                continue  # a closed casebook takes no new form: none is expected of it any more
            found_obstacles += [Obstacle("not_started", sid, ev, fm)
                                for ev, fm in expected_forms(study, subject, saved[sid], event)]
    ranks = sdv.site_ranks(study.oid) if "not_verified" in kinds and records else None
    for record in records:
        if "not_verified" in kinds and awaits_sdv(study, record, ranks):
            found_obstacles.append(Obstacle("not_verified", record["subject"], record["event"], record["form"]))
        if "unsigned" in kinds and not record.get("signature"):
            found_obstacles.append(Obstacle("unsigned", record["subject"], record["event"], record["form"]))
    return _ordered(study, found_obstacles)


def _already(step: str, record: dict) -> bool:
    """True when the record is where the step would take it, or further (a lock is further than a freeze)."""
    return bool(record.get("locked") or (step == "freeze" and record.get("frozen")))


def _closed_subjects(study: str, subject_ids: list[str], step: str) -> set[str]:
    """The subjects a container lock closes to the step: locked (by their own or the study's), frozen for a freeze."""
    keys = [container_key(study), *(container_key(study, sid) for sid in subject_ids)]
    kinds = {doc["_id"]: doc.get("kind") for doc in
             ContainerLock._get_collection().find({"_id": {"$in": keys}}, {"kind": 1})}
    closing = {"locked", "frozen"} if step == "freeze" else {"locked"}
    if kinds.get(container_key(study)) in closing:
        return set(subject_ids)
    return {sid for sid in subject_ids if kinds.get(container_key(study, sid)) in closing}


def _ordered(study: StudyRuntime, found: Iterable[Obstacle]) -> list[Obstacle]:
    place = {(e["oid"], f): (i, j) for i, e in enumerate(study.events) for j, f in enumerate(e["forms"])}
    labelled = [replace(o, label=item_label(study, o.form, o.item) if o.item else study.form(o.form).title)
                for o in found]
    last = (len(place), 0)
    return sorted(labelled, key=lambda o: (o.subject, KINDS.index(o.kind), place.get((o.event, o.form), last),
                                           o.item or ""))


def counts(found: Iterable[Obstacle]) -> dict[str, int]:
    """How many obstacles of each kind (kinds with none left out), in the order of :data:`KINDS`."""
    listed = list(found)
    return {kind: n for kind in KINDS if (n := sum(1 for o in listed if o.kind == kind))}


class NotReady(Conflict):
    """409: obstacles stand against the step and no reason to proceed anyway was given; lists them."""

    def __init__(self, step: str, found: list[Obstacle]):
        summary = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts(found).items())
        super().__init__(f"{len(found)} obstacle(s) stand against {step}: {summary}; give override_reason to "
                         f"{step} anyway",
                         [FieldError("/override_reason", "required: a reason to proceed despite the obstacles")])
        self.step = step
        self.obstacles = found
        self.extra = {"obstacles": [o.as_dict() for o in found]}


def override(step: str, found: list[Obstacle], reason: Any) -> dict | None:
    """What an audit event keeps of a step taken despite obstacles: the reason, their counts, the first of them.

    None when nothing stands against the step (no reason is asked, none kept).

    :raise 409: obstacles and no reason (:class:`NotReady`, listing them); :raise 422: a reason that is not text.
    """
    if not found:
        return None
    if reason is None or (isinstance(reason, str) and not reason.strip()):
        raise NotReady(step, found)
    check_text(reason, "/override_reason", multiline=True, max_length=MAX_REASON, label="Reason to proceed")
    return {"reason": reason.strip(), "counts": counts(found), "obstacles": [o.as_dict() for o in found[:KEPT]]}


def review_obstacles(study: StudyRuntime, user, subject_id: str, event: str, form: str,
                     record: dict | None) -> dict[str, list[Obstacle]]:
    """What stands against each step the form page offers the user on ``record``, by step.

    ``sign`` (the form) and ``sign_visit`` for an investigator, ``lock`` and ``freeze`` for a data manager;
    none on a record not saved yet or locked (nothing to sign or lock).
    """
    if not record or record.get("locked"):
        return {}
    scope = {"subject_id": subject_id, "event": event}
    steps: dict[str, list[Obstacle]] = {}
    if may(user.role, Action.SIGN):
        steps["sign"] = obstacles(study, user, "sign", form=form, **scope)
        steps["sign_visit"] = obstacles(study, user, "sign", **scope)
    if may(user.role, Action.LOCK):
        steps["lock"] = obstacles(study, user, "lock", form=form, **scope)
        if not record.get("frozen"):
            steps["freeze"] = obstacles(study, user, "freeze", form=form, **scope)
    return steps


def casebook_obstacles(study: StudyRuntime, user, subject_id: str) -> dict[str, list[Obstacle]]:
    """What stands against each casebook step the subject page offers the user, by step.

    ``sign`` for an investigator unless the casebook is locked; ``lock`` and ``freeze`` for a data manager
    unless the casebook (or the study) is already locked, ``freeze`` unless already frozen.
    """
    closed = container_state(study.oid, subject_id)
    steps: dict[str, list[Obstacle]] = {}
    if may(user.role, Action.SIGN) and closed != "locked" and study_closure(study.oid) is None:
        steps["sign"] = obstacles(study, user, "sign", subject_id=subject_id)
    if may(user.role, Action.LOCK) and closed != "locked":
        steps["lock"] = obstacles(study, user, "lock", subject_id=subject_id)
        if closed != "frozen":
            steps["freeze"] = obstacles(study, user, "freeze", subject_id=subject_id)
    return steps


def sign_checked(study: StudyRuntime, user, password: Any, *, subject_id: str, event: str | None = None,
                 form: str | None = None, meaning: Any = None, override_reason: Any = None,
                 check_password) -> signatures.Signature:
    """Sign a form, visit or casebook as :func:`ecrf.signatures.sign` does, once its obstacles are answered.

    :raise 409: obstacles stand against it and no ``override_reason`` was given (nothing is written).
    """
    require(user, Action.SIGN)
    subject = get_subject(study, user, subject_id).subject_id
    lifecycle.refuse_review_if_locked(study.oid, subject, None, "nothing in it can be signed")
    scope = {"study": study.oid, "subject": subject, **({"event": event} if event else {}),
             **({"form": form} if form and event else {})}
    if any(r.get("locked") for r in Record._get_collection().find(scope, {"locked": 1})):
        raise Locked("a locked record cannot be signed")  # as signatures.sign says, before any obstacle
    found = obstacles(study, user, "sign", subject_id=subject_id, event=event, form=form)
    kept = override("sign", found, override_reason)
    return signatures.sign(study, user, password, subject_id=subject_id, event=event, form=form, meaning=meaning,
                           check_password=check_password, override=kept)


def lock_checked(study: StudyRuntime, user, kind: str, on: bool, *, subject_id: str | None = None,
                 event: str | None = None, form: str | None = None, reason: Any = None, override_reason: Any = None,
                 progress=None) -> int:
    """Lock or freeze (or undo either) as :func:`ecrf.lifecycle.set_lock` does, once a lock's obstacles are answered.

    Unlocking and unfreezing meet no obstacle.

    :raise 409: obstacles stand against the lock or freeze and no ``override_reason`` was given (nothing written).
    """
    require(user, Action.LOCK)
    kept = None
    if on:
        step = "lock" if kind == "locked" else "freeze"
        kept = override(step, obstacles(study, user, step, subject_id=subject_id, event=event, form=form),
                        override_reason)
    return lifecycle.set_lock(study, user, kind, on, subject_id=subject_id, event=event, form=form, reason=reason,
                              progress=progress, override=kept)
