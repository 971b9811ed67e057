"""Records: the one write path every save takes, and the current-record projection.

    data -> normalise -> hard validation -> completeness -> derivations
         -> edit checks -> audit append -> projection

Each step is a plain function; :func:`save_record` strings them together.
The audit stream is the truth; the ``records`` collection is its projection
and is brought forward whenever it is found behind.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from mongoengine import DateTimeField, DictField, Document, IntField, ListField, StringField
from pymongo.errors import DuplicateKeyError

import logging

from audit import GENESIS, StaleVersion, diff, fold, unescape_token, utc_now
from ecrf.definitions import EVENT_INPUT, ROW_ID, CompiledForm
from ecrf.errors import Conflict, FieldError, Invalid, Locked, NotFound, ReasonRequired
from ecrf.expressions import ExpressionError, bindings, evaluate
from ecrf.locks import ContainerLock, container_keys, held_kind
from ecrf.ranges import ranges_for
from ecrf.roles import Action
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject, get_subject, require, subject_key, visible_subject
from ecrf.text import MAX_REASON, check_text, pointer_token, text_fault
from ecrf.trail import audit_store, record_stream

log = logging.getLogger("ecrf")

# Fields of a projection that its audit stream decides (the rest is identity).
FOLDED = ("data", "derived", "status", "definition", "flags", "failing", "sdv", "sdv_items", "signature", "frozen",
          "locked")


class Record(Document):
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
    sdv = DictField()
    sdv_items = DictField()
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
                    ("study", "form", "event", "site"), ("study", "form", "site")],
    }


# ---------------------------------------------------------------- step 1: normalise


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _normal_datetime(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is None:
        return value
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_row_id() -> str:
    """A fresh, stable id for a repeating row."""
    return "r" + secrets.token_hex(6)


def normalise(form: CompiledForm, data: Any, old: dict) -> dict:
    """The data as it will be stored: empties dropped, times in UTC, rows with ids.

    Rows keep their order of first entry; rows new to this save follow in the
    order given. Raises :class:`Invalid` when ``data`` is not an object.
    """
    if not isinstance(data, dict):
        raise Invalid("data must be a JSON object", [FieldError("/data", "must be an object of items")])
    refused = text_faults(form, data)
    if refused:
        raise Invalid(f"{len(refused)} item(s) hold text that cannot be accepted", refused)
    cleaned = {}
    for key, value in data.items():
        if _empty(value):
            continue
        item = form.item_by_oid.get(key)
        if item is not None and item.kind == "datetime":
            value = _normal_datetime(value)
        if item is not None and item.kind == "group" and isinstance(value, list):
            value = _normalise_rows(item, value, old.get(key) or [])
            if not value:
                continue
        cleaned[key] = value
    return cleaned


def text_faults(form: CompiledForm, data: dict) -> list[FieldError]:
    """A fault, by JSON pointer and naming the item's label, for each text value that :mod:`ecrf.text` refuses.

    Line breaks and tabs are accepted only in multi-line (textarea) items; rows are named by row id.
    """
    faults = []

    def check_value(item, value, path: str) -> None:
        if isinstance(value, str):
            if fault := text_fault(value, multiline=item is not None and item.kind == "textarea"):
                faults.append(FieldError(path, f"{item.label('en')}: {fault}" if item is not None else fault))
        elif isinstance(value, list):
            for index, entry in enumerate(value):
                if isinstance(entry, dict) and item is not None and item.kind == "group":
                    rid = entry.get(ROW_ID)
                    row = pointer_token(rid) if isinstance(rid, str) and rid else index
                    check_items({child.oid: child for child in item.children}, entry, f"{path}/{row}")
                else:
                    check_value(item, entry, f"{path}/{index}")
        elif isinstance(value, dict):
            check_items({}, value, path)

    def check_items(items: dict, values: dict, path: str) -> None:
        for key, value in values.items():
            pointer = f"{path}/{pointer_token(key)}"
            if key not in items and (fault := text_fault(key)):
                faults.append(FieldError(pointer, f"the item name: {fault}"))
            else:
                check_value(items.get(key), value, pointer)

    check_items(form.item_by_oid, data, "")
    return faults


def _normalise_rows(item, rows: list, old_rows: list) -> list:
    children = {child.oid: child for child in item.children}
    kept, seen = {}, set()
    for row in rows:
        if not isinstance(row, dict):
            kept.setdefault(None, []).append(row)  # the validator will name it
            continue
        clean = {}
        for key, value in row.items():
            if _empty(value):
                continue
            child = children.get(key)
            clean[key] = _normal_datetime(value) if child is not None and child.kind == "datetime" else value
        rid = clean.get(ROW_ID)
        if not isinstance(rid, str) or rid in seen:
            rid = new_row_id()
        clean[ROW_ID] = rid
        seen.add(rid)
        if len(clean) > 1:
            kept[rid] = clean
    old_order = [r.get(ROW_ID) for r in old_rows if isinstance(r, dict)]
    ordered = [kept.pop(rid) for rid in old_order if rid in kept]
    ordered += [row for rid, row in kept.items() if rid is not None]
    return ordered + kept.get(None, [])


# ---------------------------------------------------------------- step 2: hard validation


def _error_path(error, data: dict) -> str:
    parts, node = [], data
    for part in error.absolute_path:
        if isinstance(node, list) and isinstance(part, int) and part < len(node) and isinstance(node[part], dict):
            parts.append(str(node[part].get(ROW_ID, part)))
        else:
            parts.append(str(part))
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return "/" + "/".join(parts) if parts else ""


def validate(form: CompiledForm, data: dict) -> list[FieldError]:
    """Every hard fault: unknown items, types, formats, code lists, bounds, hidden items with a value."""
    not_numbers = [FieldError(path, "must be a finite number (not NaN or infinity)") for path in _non_finite(data, "")]
    if not_numbers:
        return not_numbers
    if _surely_valid(form, data):
        return [FieldError(path, HIDDEN_WITH_VALUE) for path in sorted(form.hidden_with_value(data))]
    errors = []
    for key in data:
        if key not in form.item_by_oid:
            errors.append(FieldError(f"/{key}", f"unknown item {key!r} in form {form.oid}"))
    for error in form.validator.iter_errors(data):
        if error.validator == "additionalProperties" and not error.absolute_path:
            continue  # named above, one per item
        path = _error_path(error, data)
        if error.validator == "additionalProperties":
            extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
            for key in extra:
                errors.append(FieldError(f"{path}/{key}", f"unknown item {key!r}"))
            continue
        errors.append(FieldError(path, _message(error)))
    if not errors:
        for path in form.hidden_with_value(data):
            errors.append(FieldError(path, HIDDEN_WITH_VALUE))
    return sorted(errors, key=lambda e: e.path)


def _non_finite(value: Any, path: str):
    if isinstance(value, float) and not math.isfinite(value):
        yield path
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _non_finite(child, f"{path}/{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            key = child.get(ROW_ID, index) if isinstance(child, dict) else index
            yield from _non_finite(child, f"{path}/{key}")


HIDDEN_WITH_VALUE = "not applicable for the answers given (hidden by its condition); leave it empty"


def _surely_valid(form: CompiledForm, data: dict) -> bool:
    # The compiled validator is ~50x faster; anything it doubts gets the full, explaining one.
    try:
        return form.fast_validator.is_valid(data)
    except Exception:  # a value it cannot take (NaN, a huge int): let jsonschema decide
        return False


def _message(error) -> str:
    if error.validator == "enum":
        return f"{error.instance!r} is not one of the allowed codes {error.validator_value}"
    if error.validator == "type":
        return f"{error.instance!r} is not of type {error.validator_value}"
    if error.validator == "format":
        return str(error.cause) if error.cause else error.message
    return error.message


# ---------------------------------------------------------------- step 3: completeness


def completeness(form: CompiledForm, data: dict) -> tuple[str, list[str]]:
    """``("complete", [])`` or ``("incomplete", [pointers of missing required items])``."""
    missing = form.missing_items(data)
    return ("incomplete" if missing else "complete"), missing


# ---------------------------------------------------------------- step 4: derivations


@dataclass
class Scope:
    """What derivations and checks see (see docs/form-language.md)."""

    variables: dict[str, Any]
    reads: frozenset[str] | None = None  # the variables expressions read (None: all)
    key: Any = None  # reuse the bindings of this study and form (see ecrf.expressions.Bindings)
    _bindings: Any = None

    def context(self):
        """One expression context per save, shared by derivations and checks."""
        if self._bindings is None:
            self._bindings = bindings(self.key)
            for name, value in self.variables.items():
                if self.reads is None or name in self.reads:
                    self._bindings.bind(name, value)
        return self._bindings.context

    def bind(self, name: str, value: Any, doubles: bool = True) -> None:
        """Set one variable of the context (after :meth:`context`)."""
        self.context()
        self._bindings.bind(name, value, doubles)


def subject_facts(study: StudyRuntime, subject: Subject, records: dict) -> dict:
    """The subject's key facts (sex, birth, consent, infusion dates, age at consent)."""
    facts = {"id": subject.subject_id, "site": subject.site}
    for name, path in study.study.get("subject_facts", {}).items():
        event, form, item = path.split(".")
        value = records.get(event, {}).get(form, {}).get(item)
        if value is not None:
            facts[name] = value[:10] if name.endswith("_date") and isinstance(value, str) else value
    if "birth_date" in facts and "consent_date" in facts:
        from ecrf.clinical.dates import age_in_years

        age = age_in_years(facts["birth_date"], facts["consent_date"])
        if age is not None:
            facts["age"] = age
    return facts


def _values(document: dict) -> dict:
    return {**(document.get("data") or {}), **(document.get("derived") or {})}


def records_by_event(documents) -> dict:
    """``{event: {form: data + derived}}`` of the given record projections."""
    found: dict[str, dict] = {}
    for doc in documents:
        found.setdefault(doc["event"], {})[doc["form"]] = _values(doc)
    return found


def _streams_read(study: StudyRuntime, subject_id: str, form: CompiledForm, stream: str) -> list[str] | None:
    """The record streams a save of ``form`` reads, its own among them; None: every record of the subject.

    Only the records its rules name (and the subject facts' sources) when
    the rules name every record they read.
    """
    if not form.reads_other_records:
        return [stream]
    if not form.record_refs_complete:
        return None
    wanted = {stream, *(record_stream(study.oid, subject_id, e, f) for e, f in form.record_refs)}
    if form.reads_subject or form.has_ranges:
        wanted |= {record_stream(study.oid, subject_id, e, f) for e, f in study.fact_sources}
    return sorted(wanted)


def _split(documents, stream: str) -> tuple[dict | None, list]:
    stored, others = None, []
    for document in documents:
        if document["_id"] == stream:
            stored = document
        else:
            others.append(document)
    return stored, others


def read_records(study: StudyRuntime, subject_id: str, form: CompiledForm, stream: str) -> tuple[dict | None, list]:
    """The stored projection of ``stream``, and the subject's other records that the form's rules read (one query)."""
    streams = _streams_read(study, subject_id, form, stream)
    query = {"_id": {"$in": streams}} if streams else {"study": study.oid, "subject": subject_id}
    return _split(Record._get_collection().find(query), stream)


@dataclass
class SaveInputs:
    """What a save reads before it writes."""

    subject: Subject
    stored: dict | None  # the record's projection (None: a new record)
    others: list[dict]  # the subject's other records that the form's rules read
    held: str | None  # the subject's or the study's container lock ("locked", "frozen"), which refuses new records
    site_ranges: list[dict] | None  # every stored reference range of the subject's site, if the form uses ranges


def read_for_save(study: StudyRuntime, user, subject_id: str, form: CompiledForm, stream: str) -> SaveInputs:
    """Everything a save of ``stream`` reads, in one database command.

    The subject (:class:`NotFound` unless this user may see it), the record
    and the records its rules read, the container locks over the subject and,
    for forms that use reference ranges, its site's ranges: one aggregation
    on the subject's document that looks each of them up by an indexed key.
    Forms whose rules read records they do not name read the subject's
    records in one more query.
    """
    from ecrf.db import lookup
    from ecrf.ranges import LabRange

    require(user, Action.VIEW_DATA)
    streams = _streams_read(study, subject_id, form, stream)
    pipeline = [
        {"$match": {"_id": subject_key(study.oid, subject_id)}},
        {"$addFields": {"_streams": {"$literal": streams or []},
                        "_locks": {"$literal": container_keys(study.oid, subject_id)}}},
        *([lookup(Record, "_streams", "_id", "_records")] if streams is not None else []),
        lookup(ContainerLock, "_locks", "_id", "_held"),
        *([lookup(LabRange, "site", "site", "_ranges")] if form.uses_ranges else []),
    ]
    found = next(Subject._get_collection().aggregate(pipeline), None)
    if found is None:
        visible_subject(study, user, subject_id, None)  # NotFound, or restores a subject registered half-way
        found = next(Subject._get_collection().aggregate(pipeline), None)
        if found is None:
            raise NotFound(f"no subject {subject_id!r}")
    looked_up = {key: found.pop(key, None) for key in ("_streams", "_locks", "_records", "_held", "_ranges")}
    subject = visible_subject(study, user, subject_id, found)
    stored, others = (_split(looked_up["_records"], stream) if streams is not None
                      else read_records(study, subject_id, form, stream))
    return SaveInputs(subject, stored, others, held_kind(looked_up["_held"]),
                      looked_up["_ranges"] if form.uses_ranges else None)


def build_scope(study: StudyRuntime, subject: Subject, event: dict, form: CompiledForm, data: dict,
                records: dict | None = None, site_ranges: list[dict] | None = None) -> Scope:
    """The evaluation scope for one save.

    ``records`` as :func:`records_by_event` gives them and ``site_ranges`` as
    :func:`read_for_save` does, if already read; otherwise they are read here.
    """
    if records is None:
        stream = record_stream(study.oid, subject.subject_id, event["oid"], form.oid)
        records = records_by_event(read_records(study, subject.subject_id, form, stream)[1])
    records.setdefault(event["oid"], {})[form.oid] = data
    facts = subject_facts(study, subject, records)
    on_date = data.get(form.date_item) if form.date_item else None
    window = event.get("window") or {}
    ranges = ranges_for(study.study, subject.site, facts.get("sex"), facts.get("age"), on_date,
                        site_ranges) if form.uses_ranges else {}
    return Scope({
        "data": data,
        "derived": {},
        "subject": facts,
        "event": {"oid": event["oid"], "day": event.get("day"), "window": window,
                  **({"date": on_date[:10]} if isinstance(on_date, str) else {})},
        "records": _named_items(records, form.record_items),
        "ranges": ranges,
        "params": study.parameters,
    }, reads=form.references | {"derived"}, key=(study.definition_hash, form.hash))


def _named_items(records: dict, wanted: dict | None) -> dict:
    if wanted is None:
        return records
    named: dict[str, dict] = {}
    for (event, form), items in wanted.items():
        values = records.get(event, {}).get(form)
        if values is not None:
            named.setdefault(event, {})[form] = {item: values[item] for item in items if item in values}
    return named


def _typed(value: Any, kind: str) -> Any:
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def derive(form: CompiledForm, scope: Scope) -> dict:
    """Derived values in declaration order; a failing or null expression leaves its value absent."""
    derived: dict[str, Any] = {}
    if not form.derivations:
        return derived
    context = scope.context()
    for derivation in form.derivations:
        try:
            value = evaluate(derivation.program, context)
        except ExpressionError:
            continue
        if value is None:
            continue
        derived[derivation.oid] = _typed(value, derivation.spec["type"])
        scope.bind("derived", dict(derived), doubles=False)
    scope.variables["derived"] = derived
    scope.bind("derived", derived)
    return derived


# ---------------------------------------------------------------- step 5: edit checks


@dataclass
class Finding:
    """One failing check at one item (``item`` has row ids for row checks)."""

    check: str
    item: str
    severity: str
    message: dict


def run_checks(form: CompiledForm, scope: Scope, changed: set[str] | None = None,
               failing_before: list | None = None) -> tuple[list[Finding], list[dict]]:
    """The failing checks, and the checks that could not be evaluated (broken).

    With ``changed`` (the item and derived OIDs that differ from the stored
    record) and ``failing_before`` (the ``[check, item]`` pairs that failed
    then, under the same study and form definitions), a check that reads
    none of what changed keeps its stored answer instead of being
    evaluated again.
    """
    findings, broken = [], []
    if not form.checks:
        return findings, broken
    context = None
    for check in form.checks:
        if changed is not None and failing_before is not None and not check.reads_any(changed):
            findings += [Finding(check.id, item, check.severity, check.message)
                         for check_id, item in failing_before if check_id == check.id]
            continue
        context = context or scope.context()
        targets = [(check.item, None)]
        if check.per_row:
            group, _, item = check.item.split("/")[1:]
            targets = [(f"/{group}/{row[ROW_ID]}/{item}", row) for row in scope.variables["data"].get(group, [])]
        for pointer, row in targets:
            if row is not None:
                scope.bind("row", row, doubles=False)
            try:
                ok = evaluate(check.program, context)
            except ExpressionError as exc:
                if "No such key" not in str(exc) and "KeyError" not in str(exc):
                    broken.append({"check": check.id, "item": pointer, "error": str(exc)})
                continue
            if ok is False:
                findings.append(Finding(check.id, pointer, check.severity, check.message))
            elif ok is not True and ok is not None:
                broken.append({"check": check.id, "item": pointer, "error": f"rule returned {ok!r}, not a bool"})
    return findings, broken


def range_flags(form: CompiledForm, data: dict, ranges: dict, derived: dict | None = None) -> list[dict]:
    """``{"item", "flag": "H"|"L"}`` for each value outside the site's normal range.

    An item with ``x-ecrf-range-value`` is compared through that derived value
    (for example the value converted to the range's unit).
    """
    flags = []
    derived = derived or {}

    def check(item, value, pointer):
        limits = ranges.get(item.range_analyte or "")
        if not limits or isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if "low" in limits and value < limits["low"]:
            flags.append({"item": pointer, "flag": "L", "low": limits["low"], "high": limits.get("high")})
        elif "high" in limits and value > limits["high"]:
            flags.append({"item": pointer, "flag": "H", "low": limits.get("low"), "high": limits["high"]})

    for item in form.items:
        if item.kind == "group":
            for row in data.get(item.oid) or []:
                for child in item.children:
                    if child.range_analyte:
                        check(child, row.get(child.oid), f"/{item.oid}/{row.get(ROW_ID)}/{child.oid}")
        elif item.range_analyte and data.get(item.oid) is not None:
            value = derived.get(item.range_value) if item.range_value else data.get(item.oid)
            check(item, value, f"/{item.oid}")
    return flags


def record_flags(form: CompiledForm, scope: Scope, findings: list[Finding]) -> list[dict]:
    """What the record shows beside its items: range flags and warnings."""
    flags = range_flags(form, scope.variables["data"], scope.variables["ranges"], scope.variables["derived"])
    flags += [{"item": f.item, "flag": "warning", "check": f.check, "message": f.message}
              for f in findings if f.severity == "warning"]
    return flags


def report_broken(study: StudyRuntime, form: CompiledForm, broken: list[dict], stream: str) -> None:
    """Remember checks that failed to evaluate, for data managers to see; never raises."""
    if not broken:
        return
    from ecrf.db import database

    log.warning("broken edit checks in %s: %s", form.oid, broken)
    try:
        for entry in broken:
            database().broken_checks.update_one(
                {"_id": f"{study.oid}/{form.oid}/{entry['check']}"},
                {"$set": {"study": study.oid, "form": form.oid, "check": entry["check"], "item": entry["item"],
                          "error": entry["error"], "stream": stream, "at": utc_now()},
                 "$inc": {"count": 1}},
                upsert=True,
            )
    except Exception:  # reporting must never turn a save into an error
        log.exception("could not record broken checks")


def broken_checks(study: StudyRuntime) -> list[dict]:
    """Checks of the study that failed to evaluate on some data, most recent first."""
    from ecrf.db import database

    return [{k: v for k, v in doc.items() if k != "_id"}
            for doc in database().broken_checks.find({"study": study.oid}).sort("at", -1)]


# ---------------------------------------------------------------- steps 6-7: append and project


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
        result = collection.update_one(
            {"_id": event["stream"], "version": {"$lt": projection["version"]}},
            {"$set": update}, upsert=True,
        )
    except DuplicateKeyError:
        return collection.find_one({"_id": event["stream"]})  # another process projected it first
    if not result.matched_count and not result.upserted_id:
        return collection.find_one({"_id": event["stream"]})
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
    return document


@dataclass
class SaveResult:
    record: dict
    created: bool
    changed: bool
    findings: list[Finding] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def save_record(
    study: StudyRuntime,
    user,
    subject_id: str,
    event_oid: str,
    form_oid: str,
    data: Any,
    version: Any = None,
    reason: Any = None,
    provenance: dict | None = None,
) -> SaveResult:
    """Save one form instance through the whole write path.

    ``provenance`` (a data import's: the source file and its audit record) lands in the audit
    event's context, under the event's hash; a save with provenance takes the import permission.

    Refuses with 404 (unknown or invisible subject, event, form), 403 (role),
    423 (locked), 422 (hard validation, with JSON pointers), 409 (stale
    version) or 400 (a change without a reason) and then stores nothing.
    """
    require(user, Action.ENTER_DATA if provenance is None else Action.IMPORT_DATA)
    event, form = study.form_in_event(event_oid, form_oid)
    stream = record_stream(study.oid, subject_id, event_oid, form_oid)
    # The projection stands for its stream's head; if it lags (a crash between
    # append and projection) the append below collides and the save is refused.
    read = read_for_save(study, user, subject_id, form, stream)
    subject, stored = read.subject, read.stored
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise Invalid("version must be a whole number or null", [FieldError("/version", "must be an integer ≥ 0 or null")])
    if reason is not None and not isinstance(reason, str):
        raise Invalid("reason must be text", [FieldError("/reason", "must be a string")])
    check_text(reason, "/reason", multiline=True, max_length=MAX_REASON, label="Reason for change")
    reason = (reason or "").strip() or None
    if stored and (stored.get("locked") or stored.get("frozen")):
        raise Locked(f"{form_oid} at {event_oid} is {'locked' if stored.get('locked') else 'frozen'}; no change is possible")
    if subject.status == "screen_failed" and event_oid not in study.study.get("enrollment", {}).get("screening_events", []):
        raise Conflict(f"subject {subject.subject_id} failed screening; only screening data can be entered")
    if stored is None and read.held:
        raise Locked(f"subject {subject.subject_id} is {read.held}; no new data can be entered")
    old = (stored or {}).get("data") or {}
    new = normalise(form, data, old)
    errors = validate(form, new)
    if errors:
        raise Invalid(f"{len(errors)} item(s) failed validation", errors)
    at_version = (stored or {}).get("version", 0)
    if (version or 0) != at_version:
        raise Conflict(f"the record is at version {at_version}, not {version or 0}; reload and try again")
    changes = diff(old, new)
    status, missing = completeness(form, new)
    scope = build_scope(study, subject, event, form, new, records_by_event(read.others), read.site_ranges)
    derived = derive(form, scope)
    findings, broken = run_checks(form, scope, *_incremental(study, form, stored, changes, derived))
    state = {"derived": derived, "status": status, "definition": form.hash,
             "flags": record_flags(form, scope, findings), "failing": failing(study, findings)}
    unchanged = stored is not None and not changes and all(
        stored.get(k) == v for k, v in state.items() if k != "failing")
    if unchanged:
        return SaveResult(stored, created=False, changed=False, findings=findings, missing=missing)
    if changes:
        # A change to verified or signed data clears the verification and the signature.
        state.update({key: None for key in ("sdv", "signature") if (stored or {}).get(key)})
        if (stored or {}).get("sdv_items"):
            state["sdv_items"] = {}
    if stored is not None and changes and not reason:
        raise ReasonRequired("a reason for change is required once a record has been saved",
                             [FieldError("/reason", "required for a change to saved data")])
    identity = {"study": study.oid, "subject": subject.subject_id, "site": subject.site,
                "event": event_oid, "form": form_oid}
    head = {"seq": at_version, "hash": stored.get("head")} if stored else {"seq": 0, "hash": GENESIS}
    record_event = {"stream": stream, "expected_version": at_version, "actor": user.username,
                    "action": "create" if stored is None else ("update" if changes else "rederive"),
                    "changes": changes, "reason": reason, "state": state, "head": head,
                    "context": {**identity, "provenance": provenance} if provenance else identity}
    # A save that moves the subject's status appends both events in one round trip, the record's first.
    status = enrollment_status(study, event_oid, form_oid, {**new, **derived})
    status_event = _status_event(study, subject, status, user.username, head=_subject_head(subject))
    try:
        appended, *moved = audit_store().append_all([record_event, *([status_event] if status_event else [])])
    except StaleVersion as stale:
        if not stale.stored:
            current(stream)  # bring a lagging projection forward for the retry
            raise Conflict("someone saved this record first; reload and try again") from None
        appended, moved = stale.stored[0], []  # the subject moved meanwhile: update_enrollment reads it
    record = project(appended, identity, stored)
    report_broken(study, form, broken, stream)
    sync_queries(study, form, identity, new, findings, f"change {appended['seq']} by {user.username}",
                 new_record=stored is None)
    recheck_dependents(study, subject, event_oid, form_oid)
    update_enrollment(study, subject, status, user.username, moved=moved[0] if moved else None)
    return SaveResult(record, created=stored is None, changed=True, findings=findings, missing=missing)


def failing(study: StudyRuntime, findings: list[Finding]) -> dict:
    """What a record keeps of its failing checks: the study version, and ``[check, item]`` pairs."""
    return {"study": study.definition_hash, "found": [[f.check, f.item] for f in findings]}


def _incremental(study: StudyRuntime, form: CompiledForm, stored: dict | None, changes: list[dict],
                 derived: dict) -> tuple:
    """``(changed inputs, failing before)`` when checks may reuse the stored answers, else ``(None, None)``."""
    before = (stored or {}).get("failing") or {}
    if not stored or stored.get("definition") != form.hash or before.get("study") != study.definition_hash:
        return None, None
    changed = {unescape_token(change["path"].split("/")[1]) for change in changes}
    derived_before = stored.get("derived") or {}
    changed |= {oid for oid in set(derived_before) | set(derived) if derived_before.get(oid) != derived.get(oid)}
    if form.date_item in changed:
        changed.add(EVENT_INPUT)
    return changed, before["found"]


def sync_queries(study: StudyRuntime, form: CompiledForm, identity: dict, data: dict, findings: list[Finding],
                 change: str, new_record: bool = False) -> dict:
    """Open, auto-close and retire the record's queries after a write; never fails the write.

    The write is already in the audit trail when this runs: a failure here is
    logged and repaired by the next save or by ``ecrf checks run``. A record
    saved for the first time has no queries yet (a query needs saved data).
    """
    from ecrf.queries import record_queries, sync_system_queries

    try:
        if new_record and not any(f.severity == "query" for f in findings):
            return {}
        existing = [] if new_record else record_queries(
            study.oid, identity["subject"], identity["event"], identity["form"])
        hidden = form.hidden_items(data)
        for item in form.items:
            if item.kind == "group":
                present = {row.get(ROW_ID) for row in data.get(item.oid) or []}
                hidden |= {f"/{item.oid}/{rid}" for rid in _queried_rows(existing, item.oid) - present}
        return sync_system_queries(study, identity, findings, hidden, actor="system", change=change,
                                   existing=existing)
    except Exception:
        log.exception("query sync failed for %s", identity)
        return {}


def _queried_rows(queries: list, group: str) -> set[str]:
    prefix = f"/{group}/"
    return {query.item[len(prefix):].split("/")[0] for query in queries if query.item.startswith(prefix)}


def get_record(study: StudyRuntime, user, subject_id: str, event_oid: str, form_oid: str, *,
               subject: Subject | None = None) -> dict | None:
    """The current record (None while nothing is saved); 404 for what the user may not see.

    ``subject`` may be passed when the caller has just read it with :func:`get_subject` for this user.
    """
    subject = subject or get_subject(study, user, subject_id)
    study.form_in_event(event_oid, form_oid)
    return current(record_stream(study.oid, subject.subject_id, event_oid, form_oid))


def record_history(study: StudyRuntime, user, subject_id: str, event_oid: str | None = None,
                   form_oid: str | None = None) -> list[dict]:
    """The subject's audit events (optionally of one form instance), oldest first."""
    subject = get_subject(study, user, subject_id)
    store = audit_store()
    if event_oid and form_oid:
        return store.events(record_stream(study.oid, subject.subject_id, event_oid, form_oid))
    query = {"context.study": study.oid, "context.subject": subject.subject_id}
    return list(store.collection.find(query, sort=[("at", 1), ("stream", 1), ("seq", 1)]))


def recheck_record(study: StudyRuntime, stored: dict, actor: str = "system", subject: Subject | None = None) -> str:
    """Run a record's derivations and checks again (after a rule change); sync its queries.

    Data never change. A record whose derived values or flags change gets a
    ``recheck`` audit event; a locked or frozen record is left alone (its
    derived values are data too). Returns what happened: ``locked``,
    ``frozen``, ``unchanged`` or ``updated``.
    """
    if stored.get("locked") or stored.get("frozen"):
        return "locked" if stored.get("locked") else "frozen"
    form = study.form(stored["form"])
    event = study.event(stored["event"])
    if subject is None:
        subject = Subject.objects(key=subject_key(study.oid, stored["subject"])).first()
    data = stored.get("data") or {}
    scope = build_scope(study, subject, event, form, data)
    derived = derive(form, scope)
    findings, broken = run_checks(form, scope)
    status, _ = completeness(form, data)
    state = {"derived": derived, "status": status, "definition": form.hash,
             "flags": record_flags(form, scope, findings), "failing": failing(study, findings)}
    identity = {k: stored[k] for k in ("study", "subject", "site", "event", "form")}
    report_broken(study, form, broken, stored["_id"])
    outcome = "unchanged"
    # ``failing`` alone never warrants an event: it only caches what the checks said.
    if any(stored.get(k) != v for k, v in state.items() if k != "failing"):
        try:
            appended = audit_store().append(stored["_id"], stored["version"], actor=actor, action="recheck",
                                            state=state, context=identity,
                                            head={"seq": stored["version"], "hash": stored.get("head")})
        except StaleVersion:
            current(stored["_id"])
            return "conflict"
        project(appended, identity, stored)
        outcome = "updated"
    sync_queries(study, form, identity, data, findings, "checks re-run")
    return outcome


def enrollment_status(study: StudyRuntime, event_oid: str, form_oid: str, values: dict) -> str | None:
    """The subject status that the eligibility value among ``values`` calls for; None if this form does not decide it."""
    rule = study.study.get("enrollment")
    if not rule:
        return None
    event, form, name = rule["eligibility"].split(".")
    if (event, form) != (event_oid, form_oid):
        return None
    return {True: "enrolled", False: "screen_failed"}.get(values.get(name), "screening")


def _subject_head(subject: Subject) -> dict | None:
    """The head of the subject's stream as its document last saw it (None for documents from before heads)."""
    return {"seq": subject.version, "hash": subject.head} if subject.head else None


def _status_event(study: StudyRuntime, subject: Subject, status: str | None, actor: str,
                  head: dict | None) -> dict | None:
    """:meth:`audit.AuditStore.append` arguments that move the subject to ``status`` (None: no move or no head)."""
    if status is None or status == subject.status or head is None:
        return None
    from ecrf.trail import subject_stream

    return {"stream": subject_stream(study.oid, subject.subject_id), "expected_version": head["seq"],
            "actor": actor, "action": "subject_status",
            "changes": [{"path": "/status", "old": subject.status, "new": status}], "state": {"status": status},
            "head": head, "context": {"study": study.oid, "subject": subject.subject_id, "site": subject.site}}


def update_enrollment(study: StudyRuntime, subject: Subject, status: str | None, actor: str,
                      moved: dict | None = None) -> str:
    """Move the subject to ``status`` (:func:`enrollment_status` of the record just saved; None: stay), audited.

    ``moved`` is the status event when the caller has already appended it.
    """
    if status is None:
        return subject.status
    if moved is None and status != subject.status:
        from ecrf.trail import subject_stream

        store, stream = audit_store(), subject_stream(study.oid, subject.subject_id)
        head = _subject_head(subject) or store.head(stream) or {"seq": 0, "hash": GENESIS}
        for _ in range(3):
            try:
                moved = store.append(**_status_event(study, subject, status, actor, head))
                break
            except StaleVersion:  # the subject document was behind its stream: take the stream's word
                events = store.events(stream)
                head, subject.status = events[-1], fold(events).get("status", subject.status)
                if subject.status == status:
                    return status
        else:  # the record is saved; its next save moves the subject
            log.warning("subject %s changed meanwhile; its status stays %s", subject.subject_id, subject.status)
            return subject.status
    if moved is not None:
        # Never back to an older version; "not ≥" also matches subjects from before versions (none stored).
        # Not an $or: the embedded server plans an $or beside the _id as a scan of every subject.
        Subject._get_collection().update_one(
            {"_id": subject.key, "version": {"$not": {"$gte": moved["seq"]}}},
            {"$set": {"status": status, "version": moved["seq"], "head": moved["hash"]}})
        subject.status, subject.version, subject.head = status, moved["seq"], moved["hash"]
    return status


def dependent_forms(study: StudyRuntime, event_oid: str, form_oid: str) -> set[str]:
    """Forms whose derivations, checks or range flags read the given form instance (directly or via subject facts)."""
    touches_facts = (event_oid, form_oid) in study.fact_sources
    return {
        oid for oid, form in study.forms.items()
        if (event_oid, form_oid) in form.record_refs
        or (form.reads_records and not form.record_refs_complete)
        or (touches_facts and (form.reads_subject or form.has_ranges))
    }


def recheck_dependents(study: StudyRuntime, subject: Subject, event_oid: str, form_oid: str) -> int:
    """Re-derive and re-check the subject's other records that read what was just saved.

    A baseline lab changes later grades; a consent or infusion date moves
    every visit window; a pregnancy test answers the demographics check.
    Never fails the save that triggered it.
    """
    forms = dependent_forms(study, event_oid, form_oid)
    if not forms:
        return 0
    done = 0
    try:
        own = record_stream(study.oid, subject.subject_id, event_oid, form_oid)
        streams = sorted({record_stream(study.oid, subject.subject_id, event["oid"], oid)
                          for event in study.events for oid in event["forms"] if oid in forms} - {own})
        for stored in Record._get_collection().find({"_id": {"$in": streams}}).sort("_id", 1):
            if recheck_record(study, stored, subject=subject) == "updated":
                done += 1
    except Exception:
        log.exception("re-checking records that depend on %s/%s failed", event_oid, form_oid)
    return done


def recheck_all(study: StudyRuntime, form_oid: str | None = None, progress=None) -> dict:
    """Re-run derivations and checks over every saved record of the study (optionally one form)."""
    query = {"study": study.oid, **({"form": form_oid} if form_oid else {})}
    counts: dict[str, int] = {}
    for stored in Record._get_collection().find(query).sort("_id", 1):
        stored = current(stored["_id"]) or stored
        outcome = recheck_record(study, stored)
        counts[outcome] = counts.get(outcome, 0) + 1
        if progress:
            progress(1)
    return counts
