"""The investigator's signature worklist: what awaits their signature at their sites.

A visit whose forms are all complete and not all signed awaits a visit signature; a complete form of a visit
still under way awaits a form signature; a casebook whose expected forms are all complete awaits a casebook
signature until one holds. Each line says when an earlier signature over it was voided by a later change.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecrf.readiness import expected_forms
from ecrf.records.document import Record
from ecrf.roles import Action, require
from ecrf.signatures import Signature, subject_signatures
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject

_FIELDS = {"subject": 1, "site": 1, "event": 1, "form": 1, "status": 1, "signature": 1, "locked": 1}


@dataclass(frozen=True)
class Awaiting:
    """One line of the worklist: a form, visit or casebook to sign, and the voided signature it had, if any."""

    scope: str  # "record", "event" or "subject", as signatures name their scopes
    subject: str
    site: str
    event: str | None = None
    form: str | None = None
    voided: str | None = None  # why the last signature over it no longer holds


def _standings(study_oid: str, subject_ids: set[str]) -> tuple[dict[tuple, str], set[tuple]]:
    """Of each signed scope ``(subject, scope, event, form)``: why its latest signature is voided, or that it holds."""
    voided: dict[tuple, str] = {}
    holding: set[tuple] = set()
    for subject_id in sorted(subject_ids):
        for signature in subject_signatures(study_oid, subject_id):  # oldest first: the latest one decides
            key = (subject_id, signature.scope, signature.event, signature.form)
            if signature.standing.valid:
                voided.pop(key, None)
                holding.add(key)
            else:
                voided[key] = signature.standing.reason or ""
                holding.discard(key)
    return voided, holding


def awaiting_signature(study: StudyRuntime, user) -> list[Awaiting]:
    """The forms, visits and casebooks at the user's sites that await an investigator's signature.

    Locked records are left out (they cannot be signed). One read of the subjects and one of the records; the
    standing of signatures is read only for subjects that have any.

    :raise 403: unless the user may sign.
    """
    require(user, Action.SIGN)
    query: dict = {"study": study.oid}
    if (sites := user.site_filter()) is not None:
        query["site"] = {"$in": sites}
    subjects = {s["subject_id"]: s for s in Subject._get_collection().find(query, {"subject_id": 1, "status": 1,
                                                                                    "site": 1})}
    records: dict[str, dict[tuple, dict]] = {}
    for record in Record._get_collection().find(query, _FIELDS):
        records.setdefault(record["subject"], {})[(record["event"], record["form"])] = record
    signed = {s["subject"] for s in Signature._get_collection().find(query, {"subject": 1})}
    voided, holding = _standings(study.oid, signed & set(records))
    lines: list[Awaiting] = []
    for subject_id in sorted(records):
        subject, saved = subjects.get(subject_id, {"status": None, "site": ""}), records[subject_id]
        site = subject.get("site") or next(iter(saved.values()))["site"]
        for event in study.events:
            held = [saved.get((event["oid"], form)) for form in event["forms"]]
            mine = [r for r in held if r is not None and not r.get("locked")]
            unsigned = [r for r in mine if r.get("status") == "complete" and not r.get("signature")]
            if not unsigned:
                continue
            if all(r is not None and r.get("status") == "complete" for r in held):
                lines.append(Awaiting("event", subject_id, site, event["oid"], None,
                                      voided.get((subject_id, "event", event["oid"], None))))
            else:
                visit_voided = voided.get((subject_id, "event", event["oid"], None))
                lines += [Awaiting("record", subject_id, site, r["event"], r["form"],
                                   voided.get((subject_id, "record", r["event"], r["form"])) or visit_voided)
                          for r in unsigned]
        complete = all(r.get("status") == "complete" for r in saved.values())
        casebook = (subject_id, "subject", None, None)
        if complete and not expected_forms(study, subject, set(saved), None) and casebook not in holding \
                and not all(r.get("locked") for r in saved.values()):
            lines.append(Awaiting("subject", subject_id, site, None, None, voided.get(casebook)))
    return lines
