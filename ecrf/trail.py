"""The engine's use of the audit trail: one store, its key and checkpoints, stream names, admin events."""

from __future__ import annotations

import random
import threading
import time
import zlib
from pathlib import Path

from flask import current_app, has_app_context

from audit import AuditStore, StaleVersion
from audit.checkpoints import Checkpointer, CheckpointLog, Checkpoints, flush_all
from audit.keys import Keyring
from ecrf.config import Settings
from ecrf.db import database

AUDIT_COLLECTION = "audit_events"
# How long an admin event keeps retrying a busy stream before the request fails: bursts of parallel
# logins to one account append to one user stream, and each attempt must be recorded.
ADMIN_APPEND_PATIENCE_SECONDS = 30.0
KEY_FILE = "audit_keys"
CHECKPOINT_FILE = "audit_checkpoints.jsonl"
_EXTENSION = "ecrf.trail"
# Threads of one process take turns on a stream before appending to it: they would otherwise only collide
# with each other and retry (on a loaded machine, for longer than the patience above). Striped by stream
# name so the set stays fixed in size; other processes still collide and retry.
_STREAM_TURNS = tuple(threading.Lock() for _ in range(64))


def audit_keyring(settings: Settings) -> Keyring:
    """The audit keys: ``ECRF_AUDIT_KEY`` if set, else the key file (created with a first key if missing)."""
    if settings.audit_key:
        return Keyring.from_secrets(settings.audit_key)
    return Keyring.load(key_file(settings))


def key_file(settings: Settings) -> Path:
    """Where the audit keys are kept: ``ECRF_AUDIT_KEY_FILE``, by default ``audit_keys`` in the instance folder."""
    return Path(settings.audit_key_file) if settings.audit_key_file else settings.resolved_instance_path() / KEY_FILE


def checkpoint_file(settings: Settings) -> Path:
    """Where checkpoints go: ``ECRF_AUDIT_CHECKPOINTS``, by default in the instance folder."""
    if settings.audit_checkpoints:
        return Path(settings.audit_checkpoints)
    return settings.resolved_instance_path() / CHECKPOINT_FILE


class _Trail:
    """What the app keeps for its audit trail: the keyring, the checkpoint file and this process's checkpointer."""

    def __init__(self, settings: Settings):
        self.keyring = audit_keyring(settings)
        self.log = CheckpointLog(checkpoint_file(settings), self.keyring, settings.mongodb_db)
        self.checkpointer = Checkpointer(self.log, settings.audit_checkpoint_events,
                                         settings.audit_checkpoint_minutes * 60, born_keyed=_holds_no_plain_event)


_last: _Trail | None = None


def _trail() -> _Trail:
    global _last
    if not has_app_context():
        # A worker thread of an export reads without the app context; the database it reads is the
        # process's one connection (ecrf.db), so the trail is the one made with it.
        if _last is None:
            raise RuntimeError("the audit trail is used before any app made it")
        return _last
    trail = current_app.extensions.get(_EXTENSION)
    if trail is None:
        trail = current_app.extensions[_EXTENSION] = _Trail(current_app.config["ECRF"])
    _last = trail
    return trail


def _holds_no_plain_event() -> bool:
    # Asked once, when the checkpoint file is first written: a database born keyed is sealed from its start.
    return database()[AUDIT_COLLECTION].find_one({"kid": {"$exists": False}}, {"_id": 1}) is None


def audit_store() -> AuditStore:
    """The audit store over the connected database: keyed, its appends noted for checkpoints."""
    trail = _trail()
    return AuditStore(database()[AUDIT_COLLECTION], trail.keyring, trail.checkpointer.note)


def rotate_audit_key() -> str:
    """Add a new audit key to the key file and sign new events with it; returns its id (old keys stay)."""
    trail = _trail()
    trail.checkpointer.flush()  # what the old key signed is checkpointed under it
    rotated = trail.keyring.rotate()
    trail.keyring.keys, trail.keyring.current = rotated.keys, rotated.current  # shared with the checkpoint log
    return rotated.current


def read_checkpoints() -> Checkpoints:
    """This process's pending checkpoint written, then the checkpoint file read and checked."""
    trail = _trail()
    trail.checkpointer.flush()
    return trail.log.read()


def checkpoint_heads(heads: dict[str, tuple[int, str]], *, seal: bool) -> None:
    """Write ``heads`` as one checkpoint now (a seal line with ``seal``)."""
    trail = _trail()
    trail.checkpointer.flush()
    trail.log.append(heads, "seal" if seal else "heads")


def checkpoint_path() -> Path:
    """The checkpoint file in use."""
    return _trail().log.path


def flush_checkpoints() -> None:
    """Checkpoint every stream head this process appended and has not checkpointed yet.

    The serving process calls it on its way out (it also runs at exit, by
    :mod:`atexit`); it never raises for a failed write (it is logged).
    """
    flush_all()


def record_stream(study: str, subject: str, event: str, form: str) -> str:
    """The stream of one form instance."""
    return f"record/{study}/{subject}/{event}/{form}"


def subject_stream(study: str, subject: str) -> str:
    """The stream of a subject's own life (registration, status)."""
    return f"subject/{study}/{subject}"


def record_admin_event(stream: str, actor: str, action: str, details: dict | None = None,
                       context: dict | None = None, *, reason: str | None = None,
                       changes: list[dict] | None = None) -> dict:
    """Append an event that only adds a fact to its stream (users, sites, logins), however many append at once.

    Retries on a concurrent append instead of failing, since nothing is being
    overwritten: each event only adds a fact. Between retries it waits a random
    while that grows with each collision, so that writers who collided once do
    not collide again in step: a burst of parallel appends drains one by one.
    An administrator's change carries its ``reason`` and its ``changes`` (``path``, ``old``, ``new``), as a
    record's save does.
    """
    store = audit_store()
    with _STREAM_TURNS[zlib.crc32(stream.encode()) % len(_STREAM_TURNS)]:
        return _append_retrying(store, stream, actor, action, details, context, reason, changes)


def _append_retrying(store: AuditStore, stream: str, actor: str, action: str, details: dict | None,
                     context: dict | None, reason: str | None = None, changes: list[dict] | None = None) -> dict:
    deadline = time.monotonic() + ADMIN_APPEND_PATIENCE_SECONDS
    collisions = 0
    while True:
        head = store.head(stream)
        try:
            return store.append(
                stream, head["seq"] if head else 0, actor=actor, action=action, reason=reason, changes=changes,
                state={"details": details or {}}, context=context or {}, head=head,
            )
        except StaleVersion:
            collisions += 1
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not append to {stream} after {collisions} collisions") from None
            time.sleep(random.uniform(0, min(0.001 * 2 ** collisions, 0.05)))
