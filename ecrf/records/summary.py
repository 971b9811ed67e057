"""The subject summary: one document per subject holding where each of its records stands, for the reports.

The reports page asks, for a whole study, where every record stands (status,
verified, signed, locked) and a handful of values (dates, grades, counts).
Reading every record of a study for that cost seconds at a thousand
casebooks; this projection keeps one small document per subject instead,
written beside each record projection (:func:`ecrf.records.document.project`
writes the summary cell first, then the record, so a crash between the two
leaves the summary ahead, never behind: catch-up re-projects the record and
rewrites the same cell).

Like the records, it is derived from the audit trail only: a cell is a
function of the record projection (:func:`cell`), which is the fold of its
stream; :func:`rebuild` recomputes every summary of a study from the
records, and ``ecrf audit replay`` calls it after rebuilding the records.
:func:`summary_problems` compares the stored summaries with a from-scratch
computation.

    {"_id": "<study>/<subject>", "study", "subject", "site",
     "cells": {<event>: {<form>: {"v": version, "status", "sdv", "signed", "locked", "frozen",
                                  "data": {reported items}, "derived": {reported items}}}}}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from mongoengine import DictField, Document, StringField
from pymongo.errors import DuplicateKeyError

# The items of each form the reports read (ecrf/reports.py): (data items, derived items). A repeating
# group's item keeps, of each row, only the row items named after it. A report needing another form or
# item reads the records themselves (ecrf.reports falls back), so a study without these forms still works.
REPORTED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "IC": (("RFICDTC",), ()),
    "DM": (("SEX", "BRTHDTC"), ()),
    "IE": (("ELIGIBLE",), ("FAILED", "ELIGIBLE")),
    "INF": (("INFDTC",), ()),
    "CRS": (("CRSDTC",), ("CRS_GRADE",)),
    "ICANS": (("ICANSDTC",), ("ICANS_GRADE",)),
    "LB_HEM": (("LBDTC", "NEUT", "HGB_STD", "PLAT"), ("NEUT", "HGB_STD", "PLAT")),
    "RESP": ((), ("RESPONSE",)),
    "DEATH": (("DTHDTC",), ()),
    "SURV": (("SURVDTC", "DISSTAT", "PROGDTC"), ()),
    "EOS": (("EOSDTC", "EOSREAS"), ()),
}
REPORTED_ROWS = {"AE": {"AE": ("AETERM", "AETOXGR")}}  # form: {group item: row items}
REVIEW_MARKS = {"sdv": "sdv", "signed": "signature", "locked": "locked", "frozen": "frozen"}  # cell: record field


class SubjectSummary(Document):
    """Where each record of one subject stands, and the few values the reports read (see the module)."""

    key = StringField(primary_key=True)
    study = StringField(required=True)
    subject = StringField(required=True)
    site = StringField(required=True)
    cells = DictField()
    meta = {"collection": "subject_summaries", "indexes": [("study", "site")]}


def summary_key(study: str, subject: str) -> str:
    """The ``_id`` of a subject's summary (the same as its subject document's)."""
    return f"{study}/{subject}"


def _kept(values: dict | None, items: tuple[str, ...]) -> dict:
    values = values or {}
    return {item: values[item] for item in items if values.get(item) is not None}


def cell(record: dict) -> dict:
    """What the summary holds of one record projection: version, status, review marks, reported values.

    Only what is there: a review mark (``sdv``, ``signed``, ``locked``, ``frozen``) only when set, data and
    derived values only when the form has some the reports read. A thousand casebooks are 175,000 cells,
    and the reports page reads them all: every field left out is one the server need not send.
    """
    form = record.get("form")
    kept: dict[str, Any] = {"v": record.get("version", 0), "status": record.get("status")}
    for mark, field in REVIEW_MARKS.items():
        if record.get(field):
            kept[mark] = True
    data: dict[str, Any] = {}
    if form in REPORTED:
        data_items, derived_items = REPORTED[form]
        data = _kept(record.get("data"), data_items)
        derived = _kept(record.get("derived"), derived_items)
        if derived:
            kept["derived"] = derived
    if form in REPORTED_ROWS:
        stored = record.get("data") or {}
        data = {group: [_kept(row, items) for row in stored.get(group) or [] if isinstance(row, dict)]
                for group, items in REPORTED_ROWS[form].items()}
    if data:
        kept["data"] = data
    return kept


def summarise(collection, record: dict) -> None:
    """Write one record's cell into its subject's summary, unless the summary holds a later version of it.

    ``collection`` is the summaries collection (the caller's, so the write path reads it once). One
    upsert; a newer cell already there (a concurrent writer got further) is left as it is.
    """
    path = f"cells.{record['event']}.{record['form']}"
    new = cell(record)
    try:
        collection.update_one(
            {"_id": summary_key(record["study"], record["subject"]),
             "$or": [{f"{path}.v": {"$lt": new["v"]}}, {path: {"$exists": False}}]},
            {"$set": {path: new, "study": record["study"], "subject": record["subject"], "site": record["site"]}},
            upsert=True,
        )
    except DuplicateKeyError:
        pass  # the summary exists with this cell at a later version: nothing to bring forward


def summaries_from(records: Iterable[dict]) -> dict[str, dict]:
    """Every summary document that ``records`` (projections of any subjects) call for, by ``_id``."""
    built: dict[str, dict] = {}
    cells: dict[str, dict] = defaultdict(dict)
    for record in records:
        key = summary_key(record["study"], record["subject"])
        document = built.setdefault(key, {"_id": key, "study": record["study"], "subject": record["subject"],
                                          "site": record["site"], "cells": cells[key]})
        document["site"] = record["site"]
        cells[key].setdefault(record["event"], {})[record["form"]] = cell(record)
    return built


CELL_FIELDS = {"study": 1, "subject": 1, "site": 1, "event": 1, "form": 1, "version": 1, "status": 1,
               **{field: 1 for field in REVIEW_MARKS.values()},
               **{f"data.{item}": 1 for items, _ in REPORTED.values() for item in items},
               **{f"derived.{item}": 1 for _, items in REPORTED.values() for item in items},
               **{f"data.{group}": 1 for groups in REPORTED_ROWS.values() for group in groups}}


def _records_of(records_collection, study: str | None, subjects: list[str] | None = None):
    query: dict[str, Any] = {} if study is None else {"study": study}
    if subjects is not None:
        query["subject"] = {"$in": subjects}
    return records_collection.find(query, CELL_FIELDS)


def rebuild(records_collection, study: str | None = None, subjects: list[str] | None = None) -> int:
    """Recompute the summaries of a study (every study: None; some subjects only: ``subjects``) from the records.

    Summaries of subjects without records are removed. Returns how many summaries were written.
    """
    built = summaries_from(_records_of(records_collection, study, subjects))
    collection = SubjectSummary._get_collection()
    query: dict[str, Any] = {} if study is None else {"study": study}
    if subjects is not None:
        query["subject"] = {"$in": subjects}
    collection.delete_many({**query, "_id": {"$nin": list(built)}})
    for document in built.values():
        collection.replace_one({"_id": document["_id"]}, document, upsert=True)
    return len(built)


def missing(records_collection, study: str) -> list[str]:
    """Subjects of ``study`` with records but no summary (a database from before summaries were kept)."""
    with_records = set(records_collection.distinct("subject", {"study": study}))
    summarised = set(SubjectSummary._get_collection().distinct("subject", {"study": study}))
    return sorted(with_records - summarised)


def summary_problems(records_collection, study: str | None = None) -> list[str]:
    """Each subject whose stored summary differs from one computed afresh from the records (empty: all hold)."""
    expected = summaries_from(_records_of(records_collection, study))
    query = {} if study is None else {"study": study}
    stored = {document["_id"]: document for document in SubjectSummary._get_collection().find(query)}
    problems = []
    for key in sorted(set(expected) | set(stored)):
        if key not in stored:
            problems.append(f"{key}: no summary")
        elif key not in expected:
            problems.append(f"{key}: a summary without records")
        elif stored[key] != expected[key]:
            problems.append(f"{key}: the summary differs from its records")
    return problems
