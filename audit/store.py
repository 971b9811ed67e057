"""The event store over one MongoDB collection: append, read, fold, verify."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo.errors import BulkWriteError, DuplicateKeyError

from audit.events import GENESIS, apply_changes, event_hash, utc_now
from audit.keys import Keyring
from audit.prefetch import scan

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


# What a problem means, for the reader and for replay.
BROKEN = "broken"  # the chain does not hold: events lost, altered or forged; replay refuses the stream
BEHIND = "behind"  # the projection is an earlier state of an intact stream: repairable, nothing lost
PROJECTION = "projection"  # the projection says what its intact stream does not: replay restores it
UNSEALED = "unsealed"  # plain SHA-256 events that no key or checkpoint covers yet: run ecrf audit seal


@dataclass(frozen=True)
class StreamProblem:
    """One reason a stream does not hold, and of which kind (``BROKEN`` unless said otherwise)."""

    stream: str
    message: str
    kind: str = BROKEN

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

    With a ``keyring`` each new event carries the current key's id (``kid``)
    and its hash is HMAC-SHA-256 under that key; without one, plain SHA-256
    (events written before keying). ``on_append`` is called with the events
    of each successful append (the checkpointer notes their stream heads).
    Nothing here updates or deletes an event.
    """

    def __init__(self, collection: pymongo.collection.Collection, keyring: Keyring | None = None,
                 on_append: Callable[[list[dict]], None] | None = None):
        self.collection = collection
        self.keyring = keyring
        self.on_append = on_append

    def ensure_indexes(self) -> None:
        """Create the unique ``(stream, seq)`` index and the read paths' indexes."""
        self.collection.create_index([("stream", 1), ("seq", 1)], unique=True, name="stream_seq")
        self.collection.create_index(
            [("context.study", 1), ("context.subject", 1), ("at", 1)], name="subject_time"
        )
        # A subject's whole trail in one order (time, then stream and position): its pages are index ranges.
        self.collection.create_index(
            [("context.study", 1), ("context.subject", 1), ("at", 1), ("stream", 1), ("seq", 1)],
            name="subject_order",
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
        if self.on_append:
            self.on_append([event])
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
            if self.on_append and stale.stored:
                self.on_append(stale.stored)
            raise stale from None
        if self.on_append:
            self.on_append(events)
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
        if self.keyring is None:
            event["hash"] = event_hash(event)
        else:
            event["kid"] = self.keyring.current
            event["hash"] = event_hash(event, self.keyring.keys[self.keyring.current])
        return event

    def events(self, stream: str, after: int = 0) -> list[dict]:
        """The stream's events with ``seq > after``, oldest first."""
        return list(self.collection.find({"stream": stream, "seq": {"$gt": after}}, sort=[("seq", 1)]))

    def newest_seqs(self, prefix: str) -> dict[str, int]:
        """The position of the newest event of every stream whose name starts with ``prefix``, by stream name."""
        heads = self.collection.aggregate([
            {"$match": {"stream": {"$regex": "^" + re.escape(prefix)}}},
            {"$group": {"_id": "$stream", "seq": {"$max": "$seq"}}},
        ])
        return {head["_id"]: head["seq"] for head in heads}

    def streams(self, prefix: str | None = None) -> list[str]:
        """Every stream name (optionally those starting with ``prefix``), sorted."""
        query = {"stream": {"$regex": "^" + re.escape(prefix)}} if prefix else {}
        return sorted(self.collection.distinct("stream", query))

    def count(self) -> int:
        """How many events are stored."""
        return self.collection.estimated_document_count()

    def walk(self, *, read_ahead: bool = False) -> Iterator[tuple[str, list[dict]]]:
        """Every stream with its events, oldest first, one stream at a time.

        With ``read_ahead`` (for verification) a thread reads the next raw
        batches while the caller checks this one, and times come naive (UTC):
        see :func:`audit.prefetch.scan`.
        """
        stream: str | None = None
        batch: list[dict] = []
        order = [("stream", 1), ("seq", 1)]
        events = scan(self.collection, {}, order) if read_ahead else self.collection.find({}, sort=order)
        for event in events:
            if event["stream"] != stream:
                if stream is not None:
                    yield stream, batch
                stream, batch = event["stream"], []
            batch.append(event)
        if stream is not None:
            yield stream, batch

    def verify_stream(
        self, stream: str, events: list[dict], projection: dict | None = None, *, owned: bool = False,
        checkpoint: tuple[int, str] | None = None, sealed: bool = False,
    ) -> list[StreamProblem]:
        """Everything wrong with one stream: sequence, chain, keyed hashes, checkpoint, projection.

        A keyed event (``kid``) must carry the HMAC under the key it names,
        which this store's keyring must hold; a plain SHA-256 event may only
        come before the stream's keyed ones. ``checkpoint`` is the last
        signed ``(seq, hash)`` seen of the stream outside the database: the
        stream must still hold that event. Plain events that no later keyed
        event and no checkpoint covers are ``UNSEALED`` while the database
        is not ``sealed``, and ``BROKEN`` once it is (written without the key).

        ``projection`` is the stored current record of the stream, if the
        caller keeps one (with ``version``, ``head`` and the folded fields):
        ``BEHIND`` when it is an earlier state of the stream, ``PROJECTION``
        when a field differs, ``BROKEN`` when it is ahead of the stream or
        names another event. ``owned`` says the caller drops ``events``
        afterwards: the comparison may then fold them without copying.
        """
        problems = self._chain_problems(stream, events)
        problems += self._checkpoint_problems(stream, events, checkpoint)
        problems += self._seal_problems(stream, events, checkpoint, sealed)
        if projection is not None and not any(p.kind == BROKEN for p in problems):
            problems += projection_problems(stream, events, projection, owned)
        return problems

    def _chain_problems(self, stream: str, events: list[dict]) -> list[StreamProblem]:
        problems: list[StreamProblem] = []
        prev: str | None = GENESIS
        keyed = False
        for position, event in enumerate(events, start=1):
            if event.get("seq") != position:
                problems.append(StreamProblem(
                    stream, f"sequence gap or duplicate at seq {event.get('seq')} (expected {position})"))
                break
            if event.get("prev") != prev:
                problems.append(StreamProblem(
                    stream, f"broken chain at seq {position}: prev does not match the event before"))
            prev = event.get("hash")
            if "kid" not in event:
                if keyed:
                    problems.append(StreamProblem(
                        stream, f"event at seq {position} has a plain SHA-256 hash after keyed events: "
                                "written without the key"))
                elif event_hash(event) != event.get("hash"):
                    problems.append(StreamProblem(
                        stream, f"event at seq {position} was altered: hash does not match its content"))
                continue
            keyed = True
            key = self.keyring.key(event["kid"]) if self.keyring is not None else None
            if key is None:
                problems.append(StreamProblem(
                    stream, f"event at seq {position} names key {event['kid']!r}, which no audit key here holds "
                            "(forged, or the key file is missing)"))
            elif event_hash(event, key) != event.get("hash"):
                problems.append(StreamProblem(
                    stream, f"event at seq {position} was altered: hash does not match its content under its key"))
        return problems

    @staticmethod
    def _checkpoint_problems(stream: str, events: list[dict],
                             checkpoint: tuple[int, str] | None) -> list[StreamProblem]:
        if checkpoint is None:
            return []
        seq, digest = checkpoint
        last = max((e["seq"] for e in events if isinstance(e.get("seq"), int)), default=0)
        if last < seq:
            return [StreamProblem(
                stream, f"truncated: a checkpoint saw seq {seq}, the stream ends at {last} (events deleted)")]
        at = next((e for e in events if e.get("seq") == seq), None)
        if at is None or at.get("hash") != digest:
            return [StreamProblem(stream, f"event at seq {seq} is not the one a checkpoint saw (replaced)")]
        return []

    @staticmethod
    def _seal_problems(stream: str, events: list[dict], checkpoint: tuple[int, str] | None,
                       sealed: bool) -> list[StreamProblem]:
        plain = 0
        for event in events:
            if "kid" in event:
                return []  # a keyed event's prev covers every plain event before it
            plain += 1
        covered = checkpoint[0] if checkpoint else 0
        if plain <= covered:
            return []
        if sealed:
            return [StreamProblem(stream, f"events {covered + 1} to {plain} have plain SHA-256 hashes in a sealed "
                                          "database: written without the key")]
        return [StreamProblem(stream, f"{plain - covered} event(s) with plain SHA-256 hashes, not sealed yet "
                                      "(run ecrf audit seal)", UNSEALED)]


def projection_problems(stream: str, events: list[dict], projection: dict, owned: bool = False) -> list[StreamProblem]:
    """How a stored projection departs from the fold of its stream, as :meth:`AuditStore.verify_stream` says.

    Only for a stream whose chain verify_stream found intact (no ``BROKEN``
    problem): callers that read the projection later than the events
    check the chain first and this afterwards. ``owned`` as there.
    """
    behind = position_problem(stream, events, projection)
    if behind is not None:
        return [behind]
    expected = fold(events, share=owned)  # every hash is checked before any value is shared
    return [StreamProblem(stream, f"projection field {key!r} differs from its stream", PROJECTION)
            for key, value in expected.items()
            if key not in ("version", "head") and projection.get(key) != value]


def position_problem(stream: str, events: list[dict], projection: dict) -> StreamProblem | None:
    """None when the projection's ``version`` and ``head`` are its stream's last event; else why not.

    ``BEHIND`` (repairable) when they name an earlier event of the stream;
    ``BROKEN`` when the projection is ahead of the stream (events lost) or
    its head is no event of the stream.
    """
    version, head = projection.get("version"), projection.get("head")
    last = len(events)
    if version == last and head == (events[-1].get("hash") if events else GENESIS):
        return None
    if isinstance(version, int) and not isinstance(version, bool) and 0 <= version < last and head == (
            events[version - 1].get("hash") if version else GENESIS):
        return StreamProblem(stream, f"projection at version {version} but stream at {last}: projection behind its "
                                     "stream (repairable, nothing lost: ecrf audit replay)", BEHIND)
    if isinstance(version, int) and version > last:
        return StreamProblem(stream, f"projection at version {version} but stream at {last}: events lost from the "
                                     "stream (loss or tampering)")
    return StreamProblem(stream, f"projection at version {version} but stream at {last}: its head is no event of "
                                 "the stream (loss or tampering)")
