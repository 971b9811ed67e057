"""Each subject's audit trail indexed as one numbered sequence: a cache derived from the trail, kept lazily.

The collection ``subject_trail`` holds one small document per audit event of a subject: ``_id`` is
``"{stream}#{seq}"``, ``subject`` is ``"study/subject"``, ``n`` the event's number in the subject's one
sequence, and what the audit page filters on (``at``, ``visit``, ``form``, ``actor``, and ``items``: every
item pointer the event touches with each of its prefixes, so "/AE" matches "/AE/<row>/AETERM" by equality).
``event_id`` names the audit event itself. Pages read it by ranges of ``n`` (see :mod:`ecrf.subject_history`).

It is never written by a save (saves cost nothing more): :func:`caught_up`, called when a page is read,
extends it from a hint (``subject_trail_heads``: the last number given and the latest time indexed). It
reads the subject's events from a minute before that time (a bounded range of the ``subject_order`` index;
a minute, because another worker's clock or a slow commit may put an event a little before one already
indexed), keeps those not indexed yet (the index's documents of the same minute tell which), and numbers
them on from the last number in ``(at, stream, seq)`` order. The first read of a subject indexes its whole
trail once. The cost of bringing it up to date is the events of that last minute: a burst of thousands
of events of one subject within a minute (an import) is re-read by each page view until a later event
moves the hint on.

What the numbers mean: the order in which events were indexed. For everything stored when a subject is
first read that is the trail's order; an event committed later than it is stamped (by more than the
minute above) is numbered after the events indexed before it, and one stamped more than a minute before
the latest indexed event is not indexed at all: the minute is the bound this cache relies on.

Two readers extending one subject at once: the unique indexes on ``_id`` and ``(subject, n)`` refuse the
second writer's first conflicting document (the insert is ordered, so nothing after it is written); it
starts again from what is now there. Numbers are never given twice and never skipped. A crash between the
insert and the hint's update loses nothing: the hint is only a lower bound; the next reader finds the
documents numbered after it and re-reads the events from the hint's time, dropping those already indexed.

Integrity: ``ecrf audit verify`` checks the trail itself (hash chains, keys, projections), not this cache;
the cache can always be dropped and rebuilt from the trail (:func:`forget`). Pages do not compare it with
the trail as they are read (a count of the subject's events costs the embedded server a read of all of them).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from ecrf.db import database
from ecrf.trail import audit_store

COLLECTION = "subject_trail"
HEADS = "subject_trail_heads"
LOOKBACK = dt.timedelta(minutes=1)
RETRIES = 8  # readers extending one subject at once: each collision means another reader made progress
DUPLICATE_KEY = 11000
# What the index needs of an event (the whole event, with its changes' values, is read only for a page).
_PROJECTION = {"_id": 1, "stream": 1, "seq": 1, "at": 1, "actor": 1, "action": 1, "context.event": 1,
               "context.form": 1, "context.item": 1, "changes.path": 1}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Head:
    """How far a subject is indexed: the last number given and the latest event time indexed (None: nothing)."""

    n: int
    at: dt.datetime | None


def subject_key(study: str, subject: str) -> str:
    """The ``subject`` field of the index: ``"study/subject"``."""
    return f"{study}/{subject}"


def trail_index() -> Collection:
    """The index collection (one document per event of each subject)."""
    return database()[COLLECTION]


def ensure_indexes() -> None:
    """Create the index's indexes: unique numbers per subject, and one ``n``-ordered path per filter field."""
    index = trail_index()
    index.create_index([("subject", 1), ("n", 1)], unique=True, name="subject_n")
    for field in ("form", "visit", "actor", "items"):
        index.create_index([("subject", 1), (field, 1), ("n", 1)], name=f"subject_{field}_n")
    index.create_index([("subject", 1), ("at", 1)], name="subject_at")


def naive(at: dt.datetime) -> dt.datetime:
    """``at`` as a naive UTC time (the wire client returns aware times, mongomock naive ones)."""
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at


def item_prefixes(path: str) -> list[str]:
    """``"/AE/r1/AETERM"`` -> ``["/AE", "/AE/r1", "/AE/r1/AETERM"]``: what a filter on any of them matches."""
    parts = path.split("/")[1:] if path.startswith("/") else []
    return ["/" + "/".join(parts[:end]) for end in range(1, len(parts) + 1)]


def entry(study: str, subject: str, event: dict) -> dict:
    """The index document of ``event`` (without its number)."""
    context = event.get("context") or {}
    paths = [context.get("item") or ""]
    if not (event.get("action") or "").startswith("query_"):  # a query's changes are its messages, not items
        paths += [change.get("path") or "" for change in event.get("changes") or []]
    return {"_id": f"{event['stream']}#{event['seq']}", "subject": subject_key(study, subject), "at": event["at"],
            "event_id": event["_id"], "visit": context.get("event"), "form": context.get("form"),
            "items": sorted({prefix for path in paths for prefix in item_prefixes(path)}),
            "actor": event.get("actor")}


def caught_up(study: str, subject: str) -> Head:
    """Index the subject's events not indexed yet, numbered after the others; how far it is indexed now.

    Never gives a number twice or skips one, also with readers extending the same subject at once.
    """
    key = subject_key(study, subject)
    heads = database()[HEADS]
    for _ in range(RETRIES):
        hint = heads.find_one({"_id": key}) or {}
        head = Head(hint.get("n", 0), naive(hint["at"]) if hint.get("at") else None)
        fresh = _not_indexed(study, subject, head)
        last = _last(key, head)
        if not fresh:
            if last.n > head.n:  # indexed by a reader that stopped before raising the hint
                _raise_hint(key, last)
            return last
        documents = [{**entry(study, subject, event), "n": last.n + number} for number, event in enumerate(fresh, 1)]
        try:
            trail_index().insert_many(documents, ordered=True)
        except BulkWriteError as refused:
            if any(error.get("code") != DUPLICATE_KEY for error in refused.details.get("writeErrors") or []):
                raise
            continue  # another reader numbered some of these first: start again from what it wrote
        reached = Head(documents[-1]["n"], max([naive(d["at"]) for d in documents] + ([last.at] if last.at else [])))
        _raise_hint(key, reached)
        return reached
    logger.warning("the audit index of %s is being extended by other readers; showing what is indexed", key)
    return _last(key, Head(0, None))


def forget(study: str, subject: str) -> None:
    """Drop the subject's index (the next page read rebuilds it from the trail)."""
    key = subject_key(study, subject)
    trail_index().delete_many({"subject": key})
    database()[HEADS].delete_one({"_id": key})


def _not_indexed(study: str, subject: str, head: Head) -> list[dict]:
    """The subject's events from a minute before the hint's time on that are not indexed, in trail order."""
    span: dict = {"context.study": study, "context.subject": subject}
    if head.at is not None:
        span["at"] = {"$gte": head.at - LOOKBACK}
    events = list(audit_store().collection.find(span, _PROJECTION))
    if not events:
        return []
    ids = [f"{event['stream']}#{event['seq']}" for event in events]
    # The index documents of the same window of time (a range of the (subject, at) index), not an $in of
    # every id read: after a burst the window holds thousands, and such an $in was far slower here.
    indexed: dict = {"subject": subject_key(study, subject)}
    if head.at is not None:
        indexed["at"] = span["at"]
    known = {document["_id"] for document in trail_index().find(indexed, {"_id": 1})}
    fresh = [event for event, name in zip(events, ids, strict=True) if name not in known]
    return sorted(fresh, key=lambda event: (naive(event["at"]), event["stream"], event["seq"]))


def _last(key: str, head: Head) -> Head:
    """The last number given (reading only the documents numbered after the hint) and the latest time."""
    later = list(trail_index().find({"subject": key, "n": {"$gt": head.n}}, {"n": 1, "at": 1}))
    if not later:
        return head
    times = [naive(document["at"]) for document in later] + ([head.at] if head.at else [])
    return Head(max(document["n"] for document in later), max(times))


def _raise_hint(key: str, head: Head) -> None:
    # $max: a slower reader never lowers what a faster one recorded.
    database()[HEADS].update_one({"_id": key}, {"$max": {"n": head.n, "at": head.at}}, upsert=True)
