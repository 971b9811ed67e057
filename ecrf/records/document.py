"""The Record document: the current-record projection of each record's audit stream, and its reads.

The audit stream is the truth; the ``records`` collection is its projection
and is brought forward whenever it is found behind.
"""

from __future__ import annotations

from typing import Any

from mongoengine import (
    DateTimeField,
    DictField,
    Document,
    IntField,
    ListField,
    StringField,
)
from pymongo.errors import DuplicateKeyError

from audit import fold
from ecrf.records.summary import SubjectSummary, summarise
from ecrf.trail import audit_store

# Fields of a projection that its audit stream decides (the rest is identity).
FOLDED = ("data", "derived", "status", "definition", "flags", "failing", "sdv", "sdv_items", "sdv_changes", "signature",
          "frozen", "locked", "retired")


class Record(Document):
    """The current state of one form instance of one subject at one event: the projection of its audit stream."""

    stream = StringField(primary_key=True)
    study = StringField(required=True)
    subject = StringField(required=True)
    site = StringField(required=True)
    event = StringField(required=True)
    form = StringField(required=True)
    data = DictField()
    derived = DictField()
    flags = ListField(DictField())
    failing = DictField()  # what the checks found, for incremental re-checks (see failing())
    status = StringField()
    definition = StringField()
    retired = DictField()  # values of items the record's study version no longer has (ecrf.records.retired)
    sdv = DictField()
    sdv_items = DictField()
    sdv_changes = DictField()  # item pointer -> "changed since SDV" marker (ecrf.sdv)
    signature = DictField()
    frozen = DictField()
    locked = DictField()
    version = IntField(default=0)
    head = StringField()
    updated_at = DateTimeField()
    updated_by = StringField()
    meta = {
        "collection": "records",
        # The embedded server uses an index only when it covers every field of a filter, an $in
        # (a user's sites) only in the last place: the reports' by-form reads need the last two.
        "indexes": [("study", "subject", "event", "form"), ("study", "site", "form"),
                    ("study", "form", "event", "site"), ("study", "form", "site"),
                    # The subject summaries' refresh reads the records changed since its cursor (records.summary).
                    ("updated_at",)],
    }


def project(event: dict, identity: dict, base: Any = False) -> dict:
    """Bring the projection to ``event`` (no-op when it is already there or beyond); return it.

    ``base`` is the projection as the caller read it (None: there was none);
    when it stands just before ``event``, only ``event`` is folded onto it.
    Otherwise the stream is read from where the stored projection stands.
    """
    collection = Record._get_collection()
    if base is False:
        base = collection.find_one({"_id": event["stream"]})
    at = base.get("version", 0) if base else 0
    if at >= event["seq"]:
        return base
    events = [event] if at == event["seq"] - 1 else audit_store().events(event["stream"], after=at)
    projection = fold(events, _folded(base) if base else None)
    update = {**{k: projection.get(k) for k in FOLDED if k in projection},
              "version": projection["version"], "head": projection["head"],
              "updated_at": events[-1]["at"], "updated_by": events[-1]["actor"], **identity}
    try:
        collection.update_one(
            {"_id": event["stream"], "version": {"$lt": projection["version"]}},
            {"$set": update}, upsert=True,
        )
    except DuplicateKeyError:
        pass  # another process projected this event, or a later one, first
    # The record as this event left it, not re-read: a write that lands right after must not show up in the
    # answer to this one (its client would be told another write's version).
    return {**(base or {}), "_id": event["stream"], **update}


def _folded(document: dict) -> dict:
    return {k: document.get(k) for k in (*FOLDED, "version", "head") if k in document}


def current(stream: str) -> dict | None:
    """The projection of a stream, brought forward if it lags its stream."""
    collection = Record._get_collection()
    document = collection.find_one({"_id": stream})
    head = audit_store().head(stream)
    if head is None:
        return document
    if document is None or document.get("version", 0) < head["seq"]:
        context = head.get("context") or {}
        document = project(head, {k: context[k] for k in ("study", "subject", "site", "event", "form") if k in context},
                           document)
        # Its updated_at is its event's time, maybe long before the summaries' cursor: write its cell now, or a
        # refresh would never re-read it. Only this late path pays for it; a save does not (see summary).
        summarise(SubjectSummary._get_collection(), document)
    return document


