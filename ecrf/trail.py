"""The engine's use of the audit trail: one store, stream names, admin events."""

from __future__ import annotations

from audit import AuditStore, StaleVersion
from ecrf.db import database

AUDIT_COLLECTION = "audit_events"


def audit_store() -> AuditStore:
    """The audit store over the connected database."""
    return AuditStore(database()[AUDIT_COLLECTION])


def record_stream(study: str, subject: str, event: str, form: str) -> str:
    """The stream of one form instance."""
    return f"record/{study}/{subject}/{event}/{form}"


def subject_stream(study: str, subject: str) -> str:
    """The stream of a subject's own life (registration, status)."""
    return f"subject/{study}/{subject}"


def record_admin_event(stream: str, actor: str, action: str, details: dict | None = None,
                       context: dict | None = None) -> dict:
    """Append an event that no one edits concurrently in practice (users, sites, logins).

    Retries on a concurrent append instead of failing, since nothing is being
    overwritten: each event only adds a fact.
    """
    store = audit_store()
    for _ in range(20):
        head = store.head(stream)
        try:
            return store.append(
                stream, head["seq"] if head else 0, actor=actor, action=action,
                state={"details": details or {}}, context=context or {}, head=head,
            )
        except StaleVersion:
            continue
    raise RuntimeError(f"could not append to {stream}")
