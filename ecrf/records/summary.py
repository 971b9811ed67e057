"""The subject summary: one document per subject holding where each of its records stands, for the reports.

The reports page asks, for a whole study, where every record stands (status,
verified, signed, locked) and a handful of values (dates, grades, counts).
Reading every record of a study for that cost seconds at a thousand
casebooks; this projection keeps one small document per subject instead.

It is kept incrementally by its readers, not by the save (which stays at its
four commands): before reading summaries, :func:`refresh` reads the records
whose ``updated_at`` is at or after a stored cursor minus :data:`SLACK`
(through the records' ``updated_at`` index), rewrites their cells with a
conditional upsert that never replaces a cell by an older version, then
moves the cursor forward with ``$max``. Its cost follows the records changed
since the last reader, not the size of the study. The slack covers a
projection that lands a little after its audit event's time (another
process, a slow write). Projections written later than that with an old
``updated_at`` write their own cells: a lagging record brought forward
(:func:`ecrf.records.document.current`, so catch-up too) and ``ecrf audit
replay`` (:func:`rebuild`).

Like the records, it is derived from the audit trail only: a cell is a
function of the record projection (:func:`cell`), which is the fold of its
stream; :func:`rebuild` recomputes every summary of a study from the
records. :func:`summary_problems` compares the summaries, as a reader would
see them after a refresh, with a from-scratch computation.

    {"_id": "<study>/<subject>", "study", "subject", "site",
     "<event>/<form>": "<version>|<status>|<review marks>|<reported values as JSON>", ...}
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from mongoengine import DateTimeField, Document, IntField, StringField
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from audit import ROW_ID, utc_now

# The items of each form the reports read (ecrf/reports.py, ecrf/efficacy.py): (data items, derived items). A repeating
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
# form: {group item: row items}; a row's id too, which its coded term is filed under (ecrf.coding.codings).
REPORTED_ROWS = {"AE": {"AE": ("AETERM", "AETOXGR", ROW_ID)}}
# What a cell holds, as a number: when :func:`cell` changes, summaries written before are rebuilt by their next
# reader (a cell kept at its record's version would otherwise never be rewritten). 2: AE rows keep their row id.
FORMAT = 2


class SubjectSummary(Document):
    """Where each record of one subject stands, and the few values the reports read (see the module).

    Beside the identity, one string field per record, named ``<event>/<form>`` (see :func:`cell`).
    """

    key = StringField(primary_key=True)
    study = StringField(required=True)
    subject = StringField(required=True)
    site = StringField(required=True)
    meta = {"collection": "subject_summaries", "indexes": [("study", "site")], "strict": False}


class SummaryCursor(Document):
    """How far the summaries have been brought: records updated at or after ``at`` minus :data:`SLACK` are re-read;
    ``format``: the :data:`FORMAT` the summaries were written in (none: 1)."""

    key = StringField(primary_key=True)
    at = DateTimeField(required=True)
    format = IntField()
    meta = {"collection": "subject_summary_cursor"}


CURSOR = "records"  # the one cursor's _id
# How late a projection may land after its audit event's time and still be seen by the next refresh.
SLACK = dt.timedelta(minutes=5)
DUPLICATE_KEY = 11000
IDENTITY = ("_id", "study", "subject", "site")
MARKS = {"sdv": "v", "signature": "s", "locked": "l", "frozen": "f"}  # record field: its letter in a cell
_LETTERS = {letter: field for field, letter in MARKS.items()}
VERSION_WIDTH = 10  # zero-padded, so that comparing two cells as strings compares their versions


def summary_key(study: str, subject: str) -> str:
    """The ``_id`` of a subject's summary (the same as its subject document's)."""
    return f"{study}/{subject}"


def _kept(values: dict | None, items: tuple[str, ...]) -> dict:
    values = values or {}
    return {item: values[item] for item in items if values.get(item) is not None}


def cell(record: dict) -> str:
    """What the summary holds of one record projection, as one string: ``version|status|marks|values``.

    ``version`` zero-padded to :data:`VERSION_WIDTH` digits, ``marks`` a letter for each review mark set
    (:data:`MARKS`), ``values`` the data and derived items the reports read (:data:`REPORTED`) as compact
    JSON ``{"d": {...}, "x": {...}}``, empty when there are none. One string rather than a document: a
    thousand casebooks are 175,000 cells, and the server sends a thousand documents of strings more than
    ten times faster than the same cells as nested documents.
    """
    form = record.get("form")
    marks = "".join(letter for field, letter in MARKS.items() if record.get(field))
    values: dict[str, Any] = {}
    if form in REPORTED:
        data_items, derived_items = REPORTED[form]
        values = {"d": _kept(record.get("data"), data_items), "x": _kept(record.get("derived"), derived_items)}
    if form in REPORTED_ROWS:
        stored = record.get("data") or {}
        values = {"d": {group: [_kept(row, items) for row in stored.get(group) or [] if isinstance(row, dict)]
                        for group, items in REPORTED_ROWS[form].items()}}
    values = {key: value for key, value in values.items() if value}
    encoded = json.dumps(values, separators=(",", ":"), sort_keys=True, default=str) if values else ""
    return f"{record.get('version', 0):0{VERSION_WIDTH}d}|{record.get('status') or ''}|{marks}|{encoded}"


def read_cell(text: str) -> dict:
    """A cell as :func:`cell` wrote it: ``{"version", "status", "sdv", "signature", "locked", "frozen", "data",
    "derived"}`` (review marks as booleans; data and derived None for a form without reported values)."""
    version, status, marks, encoded = text.split("|", 3)
    values = orjson.loads(encoded) if encoded else {}  # 75,000 cells a page: 3x json's speed
    return {"version": int(version), "status": status or None,
            **{field: letter in marks for field, letter in MARKS.items()},
            "data": values.get("d"), "derived": values.get("x")}


def decode_values(encoded: str) -> dict:
    """``{"data", "derived"}`` from the last part of a cell (its reported values as JSON, or empty)."""
    values = orjson.loads(encoded) if encoded else {}  # 75,000 cells a page: 3x json's speed
    return {"data": values.get("d"), "derived": values.get("x")}


def cells(document: dict) -> Iterator[tuple[str, str, str]]:
    """``(event, form, cell text)`` of every record a summary document holds."""
    for name, text in document.items():
        if name not in IDENTITY:
            event, _, form = name.partition("/")
            yield event, form, text


def _upsert(record: dict) -> tuple[dict, dict]:
    """Filter and update writing one record's cell unless its summary holds that version of it or a later one."""
    name = f"{record['event']}/{record['form']}"
    new = cell(record)
    # "Not at this version or later" matches a missing cell too; one condition costs the client half the CPU of
    # the same test as an $or of "older" and "missing" (measured on the embedded server).
    return ({"_id": summary_key(record["study"], record["subject"]), name: {"$not": {"$gte": new[:VERSION_WIDTH]}}},
            {"$set": {name: new, "study": record["study"], "subject": record["subject"], "site": record["site"]}})


def summarise(collection, record: dict) -> None:
    """Write one record's cell into its subject's summary, unless the summary holds a later version of it.

    ``collection`` is the summaries collection. One upsert; a cell already there at this version or a
    later one (a concurrent writer got further) is left as it is.
    """
    try:
        collection.update_one(*_upsert(record), upsert=True)
    except DuplicateKeyError:
        pass  # the summary exists with this cell at this version or later: nothing to bring forward


def summarise_all(records: Iterable[dict]) -> int:
    """:func:`summarise` for many records in one unordered bulk write; returns how many records were given."""
    requests = [UpdateOne(*_upsert(record), upsert=True) for record in records]
    if not requests:
        return 0
    try:
        SubjectSummary._get_collection().bulk_write(requests, ordered=False)
    except BulkWriteError as error:
        # A duplicate key is a summary already holding that cell at this version or later; anything else is real.
        if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])) or \
                error.details.get("writeConcernErrors"):
            raise
    return len(requests)


def _cursor() -> dict | None:
    """The cursor document (None: the summaries were never refreshed)."""
    return SummaryCursor._get_collection().find_one({"_id": CURSOR})


def _since(records_collection, cursor: dict | None):
    """The records a refresh reads: those updated since the cursor minus the slack (every record, never refreshed)."""
    if cursor is None:
        return records_collection.find({}, CELL_FIELDS)
    return records_collection.find({"updated_at": {"$gte": cursor["at"] - SLACK}}, CELL_FIELDS)


def _outdated(cursor: dict | None) -> bool:
    """Whether the summaries were written in an earlier :data:`FORMAT` (never refreshed: not outdated)."""
    return cursor is not None and cursor.get("format", 1) != FORMAT


def refresh(records_collection) -> int:
    """Bring every subject summary up to date with the records; returns how many records were re-read.

    Reads the records updated since the cursor (minus :data:`SLACK`), writes their cells (never over a
    later version) and moves the cursor to when this refresh started. Cost: the records changed since the
    last refresh (all of them the first time). Summaries written in an earlier :data:`FORMAT` are rebuilt
    from every record instead (once, after an upgrade).
    """
    started = utc_now()
    cursor = _cursor()
    if _outdated(cursor):
        rebuild(records_collection)
        count = records_collection.estimated_document_count()
    else:
        count = summarise_all(_since(records_collection, cursor))
    mark_refreshed(started)
    return count


def mark_refreshed(at: dt.datetime) -> None:
    """Record that the summaries hold every record updated before ``at``, in this :data:`FORMAT` (for a
    refresh, and for a loader that wrote both)."""
    SummaryCursor._get_collection().update_one({"_id": CURSOR}, {"$max": {"at": at}, "$set": {"format": FORMAT}},
                                               upsert=True)


def summaries_from(records: Iterable[dict]) -> dict[str, dict]:
    """Every summary document that ``records`` (projections of any subjects) call for, by ``_id``."""
    built: dict[str, dict] = {}
    for record in records:
        key = summary_key(record["study"], record["subject"])
        document = built.setdefault(key, {"_id": key, "study": record["study"], "subject": record["subject"]})
        document["site"] = record["site"]
        document[f"{record['event']}/{record['form']}"] = cell(record)
    return built


CELL_FIELDS = {"study": 1, "subject": 1, "site": 1, "event": 1, "form": 1, "version": 1, "status": 1,
               **{field: 1 for field in MARKS},
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


def _older(stored: str | None, new: str) -> bool:
    return stored is None or stored[:VERSION_WIDTH] < new[:VERSION_WIDTH]


def summary_problems(records_collection, study: str | None = None) -> list[str]:
    """Each subject whose summary, as a reader would see it after :func:`refresh`, differs from one computed
    afresh from the records (empty: all hold). Writes nothing: the records a refresh would re-read are
    applied to the stored summaries in memory, by the same rule (a cell only moves to a later version)."""
    cursor = _cursor()
    if _outdated(cursor):
        return []  # a reader rebuilds them all from the records first: it sees exactly what they say
    expected = summaries_from(_records_of(records_collection, study))
    query = {} if study is None else {"study": study}
    stored = {document["_id"]: document for document in SubjectSummary._get_collection().find(query)}
    pending = _since(records_collection, cursor)
    for record in pending:
        if study is not None and record["study"] != study:
            continue
        key = summary_key(record["study"], record["subject"])
        document = stored.setdefault(key, {"_id": key})
        name, new = f"{record['event']}/{record['form']}", cell(record)
        if _older(document.get(name), new):
            document.update({name: new, "study": record["study"], "subject": record["subject"],
                             "site": record["site"]})
    problems = []
    for key in sorted(set(expected) | set(stored)):
        if key not in stored:
            problems.append(f"{key}: no summary")
        elif key not in expected:
            problems.append(f"{key}: a summary without records")
        elif stored[key] != expected[key]:
            problems.append(f"{key}: the summary differs from its records")
    return problems
