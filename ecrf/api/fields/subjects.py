"""A subject as the API shows it."""

from __future__ import annotations

from ecrf.subjects import Subject


def subject_json(subject: Subject) -> dict:
    """The subject's identity, site, status and registration time (ISO-8601 as stored)."""
    return {
        "subject_id": subject.subject_id, "site": subject.site, "status": subject.status,
        "study": subject.study, "created_at": subject.created_at.isoformat() if subject.created_at else None,
        "study_version": subject.study_version,
    }
