"""Whole-database integrity: verify every audit stream against its projection, rebuild projections.

Both walk the audit trail once, stream by stream in name order. Verification
reads the record projections in the same order through one more cursor and
pairs them with their streams as it goes (a merge of two sorted sequences),
instead of one lookup per stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from audit import BEHIND, BROKEN, StreamProblem, fold, position_problem, projection_problems
from audit.prefetch import plain, scan
from ecrf.projections import RECORD_FIELDS, ProjectionCheck, record_problems
from ecrf.records.document import FOLDED, Record
from ecrf.records.summary import rebuild as rebuild_summaries
from ecrf.trail import audit_store, checkpoint_path, read_checkpoints

RECORD_PREFIX = "record/"
IDENTITY = ("study", "subject", "site", "event", "form")
# What verification compares: the folded fields, the stream position, identity and who changed it last.
PROJECTED = {key: 1 for key in (*FOLDED, "version", "head", *RECORD_FIELDS)}
CHECK_BATCH = 1000
LAG = 4000  # events verify_all checks ahead of the record projections it compares them with


class ReplayRefused(Exception):
    """Replay found streams whose chain or checkpoint does not verify and rebuilt none of them.

    ``problems`` names each; ``rebuilt`` counts the intact streams it did rebuild.
    """

    def __init__(self, problems: list[StreamProblem], rebuilt: int):
        super().__init__(f"{len({p.stream for p in problems})} stream(s) refused")
        self.problems, self.rebuilt = problems, rebuilt


def replay_all(progress: Callable[[int], None] | None = None) -> int:
    """Rebuild every intact record projection from its stream; returns how many.

    Each ``record/`` stream's projection is replaced by the fold of its
    events (with ``updated_at``/``updated_by`` of the last event and the
    identity from its context); ``progress`` gets the running count. A
    stream whose chain or checkpoint does not verify, or whose projection is
    ahead of it (events lost), is left as it is: repair never hides
    tampering. Those, and streams a checkpoint saw that are gone, raise
    :class:`ReplayRefused` at the end; a checkpoint file that does not
    verify refuses the whole replay. The subject summaries
    (:mod:`ecrf.records.summary`) are then recomputed from the records.
    """
    store = audit_store()
    checkpoints = read_checkpoints()
    if checkpoints.problems:
        raise ReplayRefused([StreamProblem(str(checkpoint_path()), p) for p in checkpoints.problems], 0)
    collection = Record._get_collection()
    projections = _Projections(collection, {"version": 1, "head": 1})
    refused: list[StreamProblem] = []
    count = 0
    for stream, events in store.walk():
        broken = [p for p in store.verify_stream(stream, events, checkpoint=checkpoints.heads.pop(stream, None),
                                                 sealed=checkpoints.sealed) if p.kind == BROKEN]
        stored = projections.take(stream, wanted=_is_record_stream(stream))
        lost = position_problem(stream, events, stored) if stored is not None else None
        broken += [lost] if lost is not None and lost.kind == BROKEN else []
        if broken:
            refused += broken
            continue
        if not _is_record_stream(stream):
            continue
        collection.replace_one({"_id": stream}, _replayed(events), upsert=True)
        count += 1
        if progress:
            progress(count)
    refused += _deleted_streams(checkpoints.heads)
    refused += [StreamProblem(orphan, "projection has no audit stream (events deleted)")
                for orphan in _without_events(store.collection, projections.unmatched())]
    rebuild_summaries(collection)  # the subject summaries follow the records just rebuilt
    if refused:
        raise ReplayRefused(refused, count)
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
    checkpoints = read_checkpoints()  # before the walk: every event a checkpoint saw was stored before it
    problems = [StreamProblem(str(checkpoint_path()), p) for p in checkpoints.problems]
    projections: _Projections | None = None
    others = ProjectionCheck()
    keyed = False
    # Streams whose chain is checked, waiting for their projection: the server answers the projections' query
    # while the events are hashed (it builds a whole answer before its first batch), at most LAG events behind.
    waiting: deque = deque()
    held = 0
    for done, (stream, events) in enumerate(store.walk(read_ahead=True), start=1):
        if projections is None:  # asked once the events' answer has come: two queries at once are slower
            projections = _Projections(Record._get_collection(), read_ahead=True)
        keyed = keyed or "kid" in events[-1]
        seal = {"checkpoint": checkpoints.heads.pop(stream, None), "sealed": checkpoints.sealed}
        projected = others.stream_problems(stream, events)  # before the fold may share the events' values
        waiting.append((stream, events, store.verify_stream(stream, events, **seal), projected))
        held += len(events)
        while held > LAG:
            stream, events, chain, projected = waiting.popleft()
            held -= len(events)
            problems += _stream_problems(stream, events, chain, projections) + projected
        if progress:
            progress(done)
    if projections is None:
        projections = _Projections(Record._get_collection(), read_ahead=True)
    for stream, events, chain, projected in waiting:
        problems += _stream_problems(stream, events, chain, projections) + projected
    problems += _deleted_streams(checkpoints.heads)
    if keyed and not checkpoints.lines:
        problems.append(StreamProblem(str(checkpoint_path()), "no checkpoint of this database: deleted events and "
                                      "streams cannot be told (checkpoint file lost or moved?)"))
    problems += [StreamProblem(orphan, "projection has no audit stream (events deleted)")
                 for orphan in _without_events(store.collection, projections.unmatched())]
    return problems + others.remaining_problems()


def _stream_problems(stream, events: list[dict], chain: list[StreamProblem],
                     projections: _Projections) -> list[StreamProblem]:
    """``chain`` (what verify_stream found without the projection), with the projection's problems."""
    if not _is_record_stream(stream):
        projections.take(stream, wanted=False)  # a projection of that name is no orphan
        return chain
    projection = projections.take(stream, wanted=True)
    if projection is None:
        missing = StreamProblem(stream, "stream has no projection (repairable, nothing lost: ecrf audit replay)",
                                BEHIND)
        return [missing, *chain]
    identity = record_problems(stream, events, projection)
    if any(p.kind == BROKEN for p in chain):
        return chain + identity
    return chain + projection_problems(stream, events, _folded(projection), owned=True) + identity


def _deleted_streams(heads: dict[str, tuple[int, str]]) -> list[StreamProblem]:
    """Streams a checkpoint saw that have no event left (``heads``: what the walk did not meet)."""
    return [StreamProblem(stream, f"stream deleted: a checkpoint saw it at seq {seq}, no event of it is left")
            for stream, (seq, _) in sorted(heads.items())]


class _Projections:
    """Record projections in ``_id`` order, handed out as the walk reaches their streams.

    Ids passed over (no stream of that name came) are kept as candidates for
    orphans. A record stream whose projection is not where the order says it
    would be is looked up on its own before it counts as missing, so a server
    that sorts strings otherwise than Python costs lookups, never a wrong
    answer.
    """

    def __init__(self, collection, fields: dict = PROJECTED, *, read_ahead: bool = False):
        # Read ahead, projections come as the events of the walk do (naive UTC times), so the two compare.
        self.collection = plain(collection) if read_ahead else collection
        self.fields = fields
        order = [("_id", 1)]
        # Whole documents when read ahead: the server sends stored documents faster than it builds projected ones.
        # The _id index named: SecantusDB then walks it rather than sorting every projection (0.09 s against 0.13-0.22 s
        # for 2,400 records, bench/README.md).
        self.cursor: Iterator[dict] = (scan(collection, {}, order, hint=order) if read_ahead
                                       else iter(collection.find({}, fields, sort=order)))
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
        document = self.collection.find_one({"_id": stream}, self.fields)
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
