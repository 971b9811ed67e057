"""Catch-up: bring every record projection that lags its audit stream forward, once, when serving starts.

A crash between an audit append and its projection update leaves the
projection behind its stream. Reads bring such a record forward when they
meet it (:func:`ecrf.records.document.current`); this pass finds them all at start, so
that lists, exports and ``ecrf audit verify`` see them too.
"""

from __future__ import annotations

from ecrf import attachments
from ecrf.integrity import RECORD_PREFIX
from ecrf.records.document import Record, current
from ecrf.records.summary import missing, rebuild, refresh
from ecrf.trail import audit_store


def lagging_streams() -> list[str]:
    """Record streams whose newest event is beyond their projection's version (or that have no projection)."""
    heads = audit_store().newest_seqs(RECORD_PREFIX)
    versions = {document["_id"]: document.get("version", 0)
                for document in Record._get_collection().find({}, {"version": 1})}
    return sorted(stream for stream, seq in heads.items() if versions.get(stream, 0) < seq)


def catch_up() -> list[str]:
    """Project every lagging record (and attachment) stream up to its head; returns the streams brought forward.

    Each record brought forward writes its subject summary's cell (:func:`ecrf.records.document.current`).
    Then writes the subject summary (:mod:`ecrf.records.summary`) of every subject that has records
    but none, as a database from before summaries were kept has, and refreshes the summaries (all of them
    the first time: a database from before the summaries' cursor), so the first reader after a start
    re-reads only what changed since.
    """
    streams = lagging_streams()
    for stream in streams:
        current(stream)
    records = Record._get_collection()
    for study in records.distinct("study"):
        lacking = missing(records, study)
        if lacking:
            rebuild(records, study, lacking)
    refresh(records)
    return streams + attachments.catch_up()
