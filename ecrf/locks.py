"""Locks and freezes over a whole subject or study (container locks): where they are kept and how they are read.

Apart from the record lifecycle (:mod:`ecrf.lifecycle`) so that registration (:mod:`ecrf.subjects`), ranges
and the lifecycle itself can ask whether the study is closed without importing one another.
"""

from __future__ import annotations

from collections.abc import Iterable

from mongoengine import DateTimeField, Document, StringField

from ecrf.errors import Locked


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
    return held_kind(
        ContainerLock._get_collection().find({"_id": {"$in": container_keys(study, subject)}}, {"kind": 1})
    )


def study_closure(study: str) -> str | None:
    """``"locked"``, ``"frozen"`` or None: the lock or freeze over the whole study."""
    found = ContainerLock._get_collection().find_one({"_id": container_key(study)}, {"kind": 1})
    return held_kind([found] if found else [])


def refuse_if_study_closed(study: str, what: str) -> None:
    """:class:`Locked` (423) while the whole study is locked or frozen; ``what`` says what was refused.

    Freezing the study is the database's soft lock: like its lock, it stops every write in it.
    """
    kind = study_closure(study)
    if kind:
        raise Locked(f"study {study} is {kind}; {what}")
