"""The event store over one MongoDB collection: append, read, fold, verify."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import pymongo
from pymongo.errors import BulkWriteError, DuplicateKeyError

from audit.events import GENESIS, apply_changes, event_hash, utc_now


DUPLICATE_KEY = 11000


class StaleVersion(Exception):
    """The writer read a version of the stream that is no longer its head.

    ``stored`` lists the events of the same :meth:`AuditStore.append_all`
    call that were stored before this one failed.
    """

    def __init__(self, stream: str, expected: int, actual: int):
        super().__init__(f"{stream}: expected version {expected}, stream is at {actual}")
        self.stream, self.expected, self.actual = stream, expected, actual
        self.stored: list[dict] = []


@dataclass(frozen=True)
class StreamProblem:
    """One reason a stream does not hold."""

    stream: str
    message: str

    def __str__(self) -> str:
        return f"{self.stream}: {self.message}"


def fold(events: Iterable[dict], projection: dict | None = None, *, share: bool = False) -> dict:
    """Fold events, oldest first, into a projection.

    A projection is ``{"data", "version", "head"}`` plus whatever each event
    sets in its ``state`` (derived values, status, ...). ``share`` skips the
    copies (see :func:`audit.apply_changes`): for events read only to be
    folded once, whose values the result may then hold and modify.
    """
    projection = dict(projection or {"data": {}, "version": 0, "head": GENESIS})
    for event in events:
        projection["data"] = apply_changes(projection.get("data") or {}, event.get("changes") or [], share=share)
        projection.update(event.get("state") or {})
        projection["version"] = event["seq"]
        projection["head"] = event["hash"]
    return projection


class AuditStore:
    """Append-only streams of hash-chained events in one collection.

    Nothing here updates or deletes an event.
    """

    def __init__(self, collection: pymongo.collection.Collection):
        self.collection = collection

    def ensure_indexes(self) -> None:
        """Create the unique ``(stream, seq)`` index and the read paths' indexes."""
        self.collection.create_index([("stream", 1), ("seq", 1)], unique=True, name="stream_seq")
        self.collection.create_index(
            [("context.study", 1), ("context.subject", 1), ("at", 1)], name="subject_time"
        )

    def head(self, stream: str) -> dict | None:
        """The newest event of the stream, or None for an empty stream."""
        return self.collection.find_one({"stream": stream}, sort=[("seq", -1)])

    def append(
        self,
        stream: str,
        expected_version: int,
        *,
        actor: str,
        action: str,
        changes: list[dict] | None = None,
        reason: str | None = None,
        state: dict | None = None,
        context: dict | None = None,
        head: dict | None = None,
    ) -> dict:
        """Append one event at ``expected_version + 1`` and return it.

        ``head`` may be passed when the caller has just read it. Raises
        :class:`StaleVersion` when the stream is not at ``expected_version``,
        including when another writer appends first.
        """
        event = self._next_event(stream, expected_version, actor=actor, action=action, changes=changes,
                                 reason=reason, state=state, context=context, head=head)
        try:
            self.collection.insert_one(event)
        except DuplicateKeyError:
            raise StaleVersion(stream, expected_version, expected_version + 1) from None
        return event

    def append_all(self, appends: list[dict]) -> list[dict]:
        """Append one event to each of several distinct streams in one round trip, in order.

        Each entry holds :meth:`append`'s arguments by name (pass ``head``
        to spare a read per stream). Returns the events. If a
        stream has moved on, the events before it are stored, it and those
        after it are not, and :class:`StaleVersion` is raised with
        ``stored`` set to the events that were.
        """
        events = [self._next_event(**entry) for entry in appends]
        try:
            self.collection.insert_many(events, ordered=True)
        except BulkWriteError as exc:
            failed = (exc.details.get("writeErrors") or [{}])[0]
            if failed.get("code") != DUPLICATE_KEY:
                raise
            index = failed.get("index", 0)
            stale = StaleVersion(events[index]["stream"], events[index]["seq"] - 1, events[index]["seq"])
            stale.stored = events[:index]
            raise stale from None
        return events

    def _next_event(self, stream: str, expected_version: int, *, actor: str, action: str,
                    changes: list[dict] | None = None, reason: str | None = None, state: dict | None = None,
                    context: dict | None = None, head: dict | None = None) -> dict:
        """The event at ``expected_version + 1``, hashed; :class:`StaleVersion` if ``head`` is not there."""
        if head is None:
            head = self.head(stream)
        actual = head["seq"] if head else 0
        if actual != expected_version:
            raise StaleVersion(stream, expected_version, actual)
        event: dict[str, Any] = {
            "stream": stream,
            "seq": expected_version + 1,
            "at": utc_now(),
            "actor": actor,
            "action": action,
            "changes": changes or [],
            "reason": reason,
            "state": state or {},
            "context": context or {},
            "prev": head["hash"] if head else GENESIS,
        }
        event["hash"] = event_hash(event)
        return event

    def events(self, stream: str, after: int = 0) -> list[dict]:
        """The stream's events with ``seq > after``, oldest first."""
        return list(self.collection.find({"stream": stream, "seq": {"$gt": after}}, sort=[("seq", 1)]))

    def streams(self, prefix: str | None = None) -> list[str]:
        """Every stream name (optionally those starting with ``prefix``), sorted."""
        query = {"stream": {"$regex": "^" + re.escape(prefix)}} if prefix else {}
        return sorted(self.collection.distinct("stream", query))

    def count(self) -> int:
        """How many events are stored."""
        return self.collection.estimated_document_count()

    def walk(self) -> Iterator[tuple[str, list[dict]]]:
        """Every stream with its events, oldest first, one stream at a time."""
        stream, batch = None, []
        for event in self.collection.find({}, sort=[("stream", 1), ("seq", 1)]):
            if event["stream"] != stream:
                if stream is not None:
                    yield stream, batch
                stream, batch = event["stream"], []
            batch.append(event)
        if stream is not None:
            yield stream, batch

    def verify_stream(
        self, stream: str, events: list[dict], projection: dict | None = None, *, owned: bool = False
    ) -> list[StreamProblem]:
        """Everything wrong with one stream: sequence, chain, hashes, projection.

        ``projection`` is the stored current record of the stream, if the
        caller keeps one (with ``version``, ``head`` and the folded fields).
        ``owned`` says the caller drops ``events`` afterwards: the comparison
        with the projection may then fold them without copying (and modify
        their values).
        """
        problems = []
        prev = GENESIS
        for position, event in enumerate(events, start=1):
            if event.get("seq") != position:
                problems.append(StreamProblem(stream, f"sequence gap or duplicate at seq {event.get('seq')} (expected {position})"))
                break
            if event.get("prev") != prev:
                problems.append(StreamProblem(stream, f"broken chain at seq {position}: prev does not match the event before"))
            if event_hash(event) != event.get("hash"):
                problems.append(StreamProblem(stream, f"event at seq {position} was altered: hash does not match its content"))
            prev = event.get("hash")
        if projection is not None and not problems:
            expected = fold(events, share=owned)  # every hash is checked above, before any value is shared
            if projection.get("version") != expected["version"] or projection.get("head") != expected["head"]:
                problems.append(StreamProblem(
                    stream,
                    f"projection at version {projection.get('version')} but stream at {expected['version']}",
                ))
            else:
                for key, value in expected.items():
                    if key not in ("version", "head") and projection.get(key) != value:
                        problems.append(StreamProblem(stream, f"projection field {key!r} differs from its stream"))
        return problems

