"""Whole-database integrity: verify every audit stream against its projection, rebuild projections.

Both walk the audit trail once, stream by stream in name order. Verification
reads the record projections in the same order through one more cursor and
pairs them with their streams as it goes (a merge of two sorted sequences),
instead of one lookup per stream.
"""

from __future__ import annotations

from typing import Callable, Iterator

from audit import StreamProblem, fold
from ecrf.projections import RECORD_FIELDS, ProjectionCheck, record_problems
from ecrf.records import FOLDED, Record
from ecrf.trail import audit_store

RECORD_PREFIX = "record/"
IDENTITY = ("study", "subject", "site", "event", "form")
# What verification compares: the folded fields, the stream position, identity and who changed it last.
PROJECTED = {key: 1 for key in (*FOLDED, "version", "head", *RECORD_FIELDS)}
CHECK_BATCH = 1000


def replay_all(progress: Callable[[int], None] | None = None) -> int:
    """Rebuild every record projection from its stream; returns how many.

    Each ``record/`` stream's projection is replaced by the fold of its
    events (with ``updated_at``/``updated_by`` of the last event and the
    identity from its context); ``progress`` gets the running count.
    """
    collection = Record._get_collection()
    count = 0
    for stream, events in audit_store().walk():
        if not _is_record_stream(stream):
            continue
        collection.replace_one({"_id": stream}, _replayed(events), upsert=True)
        count += 1
        if progress:
            progress(count)
    return count


def _replayed(events: list[dict]) -> dict:
    projection = fold(events, share=True)  # the events are read for this fold only
    last = events[-1]
    context = last.get("context") or {}
    document = {k: projection.get(k) for k in FOLDED if k in projection}
    document.update(version=projection["version"], head=projection["head"],
                    updated_at=last["at"], updated_by=last["actor"],
                    **{k: context[k] for k in IDENTITY if k in context})
    return document


def verify_all(progress: Callable[[int], None] | None = None) -> list[StreamProblem]:
    """Every problem of every audit stream and record projection (empty when all hold).

    Per stream, in stream order: a ``record/`` stream without a projection,
    then what :meth:`audit.AuditStore.verify_stream` finds (sequence, chain,
    hashes, projection fields), then how the other collections that project
    it differ (:mod:`ecrf.projections`). Then, in id order, each projection whose
    stream has no events, then the other collections' orphans.
    ``progress`` gets the number of streams done.
    """
    store = audit_store()
    projections = _Projections(Record._get_collection())
    others = ProjectionCheck()
    problems: list[StreamProblem] = []
    for done, (stream, events) in enumerate(store.walk(), start=1):
        projected = others.stream_problems(stream, events)  # before verify_stream may share the events' values
        problems += _stream_problems(store, stream, events, projections) + projected
        if progress:
            progress(done)
    problems += [StreamProblem(orphan, "projection has no audit stream (events deleted)")
                 for orphan in _without_events(store.collection, projections.unmatched())]
    return problems + others.remaining_problems()


def _stream_problems(store, stream, events: list[dict], projections: "_Projections") -> list[StreamProblem]:
    if not _is_record_stream(stream):
        projections.take(stream, wanted=False)  # a projection of that name is no orphan
        return store.verify_stream(stream, events, None, owned=True)
    projection = projections.take(stream, wanted=True)
    if projection is None:
        missing = StreamProblem(stream, "stream has no projection (run ecrf audit replay)")
        return [missing, *store.verify_stream(stream, events, None, owned=True)]
    identity = record_problems(stream, events, projection)
    return store.verify_stream(stream, events, _folded(projection), owned=True) + identity


class _Projections:
    """Record projections in ``_id`` order, handed out as the walk reaches their streams.

    Ids passed over (no stream of that name came) are kept as candidates for
    orphans. A record stream whose projection is not where the order says it
    would be is looked up on its own before it counts as missing, so a server
    that sorts strings otherwise than Python costs lookups, never a wrong
    answer.
    """

    def __init__(self, collection):
        self.collection = collection
        self.cursor: Iterator[dict] = iter(collection.find({}, PROJECTED, sort=[("_id", 1)]))
        self.pending: dict | None = None
        self.passed: dict = {}  # id -> None, in cursor order

    def take(self, stream, *, wanted: bool) -> dict | None:
        """The projection whose id is ``stream`` (looked up alone if ``wanted`` and not met in order)."""
        while isinstance(stream, str):
            document = self.pending if self.pending is not None else next(self.cursor, None)
            self.pending = None
            if document is None:
                break
            key = document["_id"]
            if key == stream:
                return document
            if isinstance(key, str) and key > stream:
                self.pending = document
                break
            self.passed[key] = None
        return self._lookup(stream) if wanted else None

    def _lookup(self, stream) -> dict | None:
        document = self.collection.find_one({"_id": stream}, PROJECTED)
        if document is not None:
            self.passed.pop(stream, None)
        return document

    def unmatched(self) -> list:
        """Ids never handed out: passed over, or left after the last stream."""
        rest = [self.pending["_id"]] if self.pending is not None else []
        self.pending = None
        return [*self.passed, *rest, *(document["_id"] for document in self.cursor)]


def _without_events(events, ids: list) -> list:
    """Those of ``ids`` (in their order) that no audit event names as its stream."""
    found = set()
    for start in range(0, len(ids), CHECK_BATCH):
        found.update(events.distinct("stream", {"stream": {"$in": ids[start:start + CHECK_BATCH]}}))
    return [key for key in ids if key not in found]


def _is_record_stream(stream) -> bool:
    return isinstance(stream, str) and stream.startswith(RECORD_PREFIX)


def _folded(document: dict) -> dict:
    return {k: document.get(k) for k in (*FOLDED, "version", "head") if k in document}
