"""The engine's use of the audit trail: one store, stream names, admin events."""

from __future__ import annotations

import random
import time

from audit import AuditStore, StaleVersion
from ecrf.db import database

AUDIT_COLLECTION = "audit_events"
# How long an admin event keeps retrying a busy stream before the request fails: bursts of parallel
# logins to one account append to one user stream, and each attempt must be recorded.
ADMIN_APPEND_PATIENCE_SECONDS = 30.0


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
    """Append an event that only adds a fact to its stream (users, sites, logins), however many append at once.

    Retries on a concurrent append instead of failing, since nothing is being
    overwritten: each event only adds a fact. Between retries it waits a random
    while that grows with each collision, so that writers who collided once do
    not collide again in step: a burst of parallel appends drains one by one.
    """
    store = audit_store()
    deadline = time.monotonic() + ADMIN_APPEND_PATIENCE_SECONDS
    collisions = 0
    while True:
        head = store.head(stream)
        try:
            return store.append(
                stream, head["seq"] if head else 0, actor=actor, action=action,
                state={"details": details or {}}, context=context or {}, head=head,
            )
        except StaleVersion:
            collisions += 1
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not append to {stream} after {collisions} collisions") from None
            time.sleep(random.uniform(0, min(0.001 * 2 ** collisions, 0.05)))
