"""Enrollment: the subject's status (screening, enrolled, screen failed) that its eligibility answer calls for."""

from __future__ import annotations

import logging

from audit import GENESIS, StaleVersion, fold
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject
from ecrf.trail import audit_store, subject_stream

log = logging.getLogger(__name__)


def enrollment_status(study: StudyRuntime, event_oid: str, form_oid: str, values: dict) -> str | None:
    """The subject status that the eligibility value among ``values`` calls for;
    None if this form does not decide it."""
    rule = study.definition.get("enrollment")
    if not rule:
        return None
    event, form, name = rule["eligibility"].split(".")
    if (event, form) != (event_oid, form_oid):
        return None
    return {True: "enrolled", False: "screen_failed"}.get(values.get(name), "screening")


def subject_head(subject: Subject) -> dict | None:
    """The head of the subject's stream as its document last saw it (None for documents from before heads)."""
    return {"seq": subject.version, "hash": subject.head} if subject.head else None


def status_event(
    study: StudyRuntime, subject: Subject, status: str | None, actor: str, head: dict | None
) -> dict | None:
    """:meth:`audit.AuditStore.append` arguments that move the subject to ``status`` (None: no move or no head)."""
    if status is None or status == subject.status or head is None:
        return None
    return {
        "stream": subject_stream(study.oid, subject.subject_id),
        "expected_version": head["seq"],
        "actor": actor,
        "action": "subject_status",
        "changes": [{"path": "/status", "old": subject.status, "new": status}],
        "state": {"status": status},
        "head": head,
        "context": {"study": study.oid, "subject": subject.subject_id, "site": subject.site},
    }


def update_enrollment(
    study: StudyRuntime, subject: Subject, status: str | None, actor: str, moved: dict | None = None
) -> str:
    """Move the subject to ``status`` (:func:`enrollment_status` of the record just saved; None: stay), audited.

    ``moved`` is the status event when the caller has already appended it.
    """
    if status is None:
        return subject.status
    if moved is None and status != subject.status:
        store, stream = audit_store(), subject_stream(study.oid, subject.subject_id)
        head = subject_head(subject) or store.head(stream) or {"seq": 0, "hash": GENESIS}
        for _ in range(3):
            try:
                moved = store.append(**status_event(study, subject, status, actor, head))
                break
            except StaleVersion:  # the subject document was behind its stream: take the stream's word
                events = store.events(stream)
                head, subject.status = events[-1], fold(events).get("status", subject.status)
                if subject.status == status:
                    return status
        else:  # the record is saved; its next save moves the subject
            log.warning("subject %s changed meanwhile; its status stays %s", subject.subject_id, subject.status)
            return subject.status
    if moved is not None:
        # Never back to an older version; "not ≥" also matches subjects from before versions (none stored).
        # Not an $or: the embedded server plans an $or beside the _id as a scan of every subject.
        Subject._get_collection().update_one(
            {"_id": subject.key, "version": {"$not": {"$gte": moved["seq"]}}},
            {"$set": {"status": status, "version": moved["seq"], "head": moved["hash"]}},
        )
        subject.status, subject.version, subject.head = status, moved["seq"], moved["hash"]
    return status
