"""Records: the one write path every save takes, and the current-record projection.

    data -> normalise -> hard validation -> completeness -> derivations
         -> edit checks -> audit append -> projection

Each step is a plain function; :func:`save_record` strings them together.
The audit stream is the truth; the ``records`` collection is its projection
and is brought forward whenever it is found behind.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from mongoengine import DateTimeField, DictField, Document, IntField, ListField, StringField
from pymongo.errors import DuplicateKeyError

import logging

from audit import StaleVersion, diff, fold, utc_now
from ecrf.definitions import ROW_ID, CompiledForm
from ecrf.errors import (
    Conflict, FieldError, Invalid, Locked, NotFound, ReasonRequired,
)
from ecrf.expressions import ExpressionError, evaluate, new_context
from ecrf.ranges import ranges_for
from ecrf.roles import Action
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject, get_subject, require
from ecrf.trail import audit_store, record_stream

log = logging.getLogger("ecrf")

# Fields of a projection that its audit stream decides (the rest is identity).
FOLDED = ("data", "derived", "status", "definition", "flags", "sdv", "sdv_items", "signature", "frozen", "locked")


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
        "indexes": [("study", "subject", "event", "form"), ("study", "site", "form")],
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
            errors.append(FieldError(path, "not applicable for the answers given (hidden by its condition); leave it empty"))
    return sorted(errors, key=lambda e: e.path)


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

    def context(self):
        return new_context(self.variables)


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


def subject_records(study: StudyRuntime, subject_id: str) -> dict:
    """``{event: {form: data + derived}}`` of every saved record of the subject."""
    found: dict[str, dict] = {}
    for doc in Record.objects(study=study.oid, subject=subject_id).only("event", "form", "data", "derived").as_pymongo():
        found.setdefault(doc["event"], {})[doc["form"]] = {**(doc.get("data") or {}), **(doc.get("derived") or {})}
    return found


def build_scope(study: StudyRuntime, subject: Subject, event: dict, form: CompiledForm, data: dict) -> Scope:
    """The evaluation scope for one save."""
    records = subject_records(study, subject.subject_id)
    records.setdefault(event["oid"], {})[form.oid] = data
    facts = subject_facts(study, subject, records)
    on_date = data.get(form.date_item) if form.date_item else None
    window = event.get("window") or {}
    return Scope({
        "data": data,
        "derived": {},
        "subject": facts,
        "event": {"oid": event["oid"], "day": event.get("day"), "window": window,
                  **({"date": on_date[:10]} if isinstance(on_date, str) else {})},
        "records": records,
        "ranges": ranges_for(study.study, subject.site, facts.get("sex"), facts.get("age"), on_date),
        "params": study.parameters,
    })


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
        context.add_variable("derived", dict(derived))
    scope.variables["derived"] = derived
    return derived


# ---------------------------------------------------------------- step 5: edit checks


@dataclass
class Finding:
    """One failing check at one item (``item`` has row ids for row checks)."""

    check: str
    item: str
    severity: str
    message: dict


def run_checks(form: CompiledForm, scope: Scope) -> tuple[list[Finding], list[dict]]:
    """The failing checks, and the checks that could not be evaluated (broken)."""
    findings, broken = [], []
    if not form.checks:
        return findings, broken
    context = scope.context()
    for check in form.checks:
        targets = [(check.item, None)]
        if check.per_row:
            group, _, item = check.item.split("/")[1:]
            targets = [(f"/{group}/{row[ROW_ID]}/{item}", row) for row in scope.variables["data"].get(group, [])]
        for pointer, row in targets:
            if row is not None:
                context.add_variable("row", row)
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


def project(event: dict, identity: dict) -> None:
    """Bring the projection to ``event`` (no-op when it is already there or beyond)."""
    collection = Record._get_collection()
    stored = collection.find_one({"_id": event["stream"]}, {"version": 1})
    if stored and stored.get("version", 0) >= event["seq"]:
        return
    events = audit_store().events(event["stream"], after=stored.get("version", 0) if stored else 0)
    base = collection.find_one({"_id": event["stream"]}) if stored else None
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
        pass  # another process projected the same or a later version first


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
        project(head, {k: context[k] for k in ("study", "subject", "site", "event", "form") if k in context})
        document = collection.find_one({"_id": stream})
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
) -> SaveResult:
    """Save one form instance through the whole write path.

    Refuses with 404 (unknown or invisible subject, event, form), 403 (role),
    423 (locked), 422 (hard validation, with JSON pointers), 409 (stale
    version) or 400 (a change without a reason) and then stores nothing.
    """
    require(user, Action.ENTER_DATA)
    subject = get_subject(study, user, subject_id)
    event, form = study.form_in_event(event_oid, form_oid)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise Invalid("version must be a whole number or null", [FieldError("/version", "must be an integer ≥ 0 or null")])
    if reason is not None and not isinstance(reason, str):
        raise Invalid("reason must be text", [FieldError("/reason", "must be a string")])
    reason = (reason or "").strip() or None
    stream = record_stream(study.oid, subject.subject_id, event_oid, form_oid)
    stored = current(stream)
    if stored and (stored.get("locked") or stored.get("frozen")):
        raise Locked(f"{form_oid} at {event_oid} is {'locked' if stored.get('locked') else 'frozen'}; no change is possible")
    if subject.status == "screen_failed" and event_oid not in study.study.get("enrollment", {}).get("screening_events", []):
        raise Conflict(f"subject {subject.subject_id} failed screening; only screening data can be entered")
    if stored is None:
        from ecrf.lifecycle import container_state

        held = container_state(study.oid, subject.subject_id)
        if held:
            raise Locked(f"subject {subject.subject_id} is {held}; no new data can be entered")
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
    scope = build_scope(study, subject, event, form, new)
    derived = derive(form, scope)
    findings, broken = run_checks(form, scope)
    state = {"derived": derived, "status": status, "definition": form.hash,
             "flags": record_flags(form, scope, findings)}
    unchanged = stored is not None and not changes and all(stored.get(k) == v for k, v in state.items())
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
    try:
        appended = audit_store().append(
            stream, at_version, actor=user.username,
            action="create" if stored is None else ("update" if changes else "rederive"),
            changes=changes, reason=reason, state=state, context=identity,
        )
    except StaleVersion:
        raise Conflict("someone saved this record first; reload and try again") from None
    project(appended, identity)
    report_broken(study, form, broken, stream)
    sync_queries(study, form, identity, new, findings, f"change {appended['seq']} by {user.username}")
    recheck_dependents(study, subject.subject_id, event_oid, form_oid)
    record = Record._get_collection().find_one({"_id": stream})
    update_enrollment(study, subject, event_oid, form_oid, record, user.username)
    return SaveResult(record, created=stored is None, changed=True, findings=findings, missing=missing)


def sync_queries(study: StudyRuntime, form: CompiledForm, identity: dict, data: dict, findings: list[Finding],
                 change: str) -> dict:
    """Open, auto-close and retire the record's queries after a write; never fails the write.

    The write is already in the audit trail when this runs: a failure here is
    logged and repaired by the next save or by ``ecrf checks run``.
    """
    from ecrf.queries import sync_system_queries

    hidden = form.hidden_items(data)
    for item in form.items:
        if item.kind == "group":
            present = {row.get(ROW_ID) for row in data.get(item.oid) or []}
            hidden |= {f"/{item.oid}/{rid}" for rid in _queried_rows(identity, item.oid) - present}
    try:
        return sync_system_queries(study, identity, findings, hidden, actor="system", change=change)
    except Exception:
        log.exception("query sync failed for %s", identity)
        return {}


def _queried_rows(identity: dict, group: str) -> set[str]:
    from ecrf.queries import OPEN_STATES, Query

    prefix = f"/{group}/"
    rows = set()
    for query in Query.objects(study=identity["study"], subject=identity["subject"], event=identity["event"],
                               form=identity["form"], state__in=list(OPEN_STATES)).only("item"):
        if query.item.startswith(prefix):
            rows.add(query.item[len(prefix):].split("/")[0])
    return rows


def get_record(study: StudyRuntime, user, subject_id: str, event_oid: str, form_oid: str) -> dict | None:
    """The current record (None while nothing is saved); 404 for what the user may not see."""
    subject = get_subject(study, user, subject_id)
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


def recheck_record(study: StudyRuntime, stored: dict, actor: str = "system") -> str:
    """Run a record's derivations and checks again (after a rule change); sync its queries.

    Data never change. A record whose derived values or flags change gets a
    ``recheck`` audit event; a locked record is left alone. Returns what
    happened: ``locked``, ``unchanged`` or ``updated``.
    """
    if stored.get("locked"):
        return "locked"
    form = study.form(stored["form"])
    event = study.event(stored["event"])
    from ecrf.subjects import Subject

    subject = Subject.objects(key=f"{study.oid}/{stored['subject']}").first()
    data = stored.get("data") or {}
    scope = build_scope(study, subject, event, form, data)
    derived = derive(form, scope)
    findings, broken = run_checks(form, scope)
    status, _ = completeness(form, data)
    state = {"derived": derived, "status": status, "definition": form.hash, "flags": record_flags(form, scope, findings)}
    identity = {k: stored[k] for k in ("study", "subject", "site", "event", "form")}
    report_broken(study, form, broken, stored["_id"])
    outcome = "unchanged"
    if any(stored.get(k) != v for k, v in state.items()):
        try:
            appended = audit_store().append(stored["_id"], stored["version"], actor=actor, action="recheck",
                                            state=state, context=identity)
        except StaleVersion:
            return "conflict"
        project(appended, identity)
        outcome = "updated"
    sync_queries(study, form, identity, data, findings, "checks re-run")
    return outcome


def update_enrollment(study: StudyRuntime, subject: Subject, event_oid: str, form_oid: str, record: dict,
                      actor: str) -> str:
    """Move the subject to ``enrolled`` or ``screen_failed`` when its eligibility value changes (audited)."""
    rule = study.study.get("enrollment")
    if not rule:
        return subject.status
    event, form, name = rule["eligibility"].split(".")
    if (event, form) != (event_oid, form_oid):
        return subject.status
    value = {**(record.get("data") or {}), **(record.get("derived") or {})}.get(name)
    status = {True: "enrolled", False: "screen_failed"}.get(value, "screening")
    if status != subject.status:
        from ecrf.trail import subject_stream

        stream = subject_stream(study.oid, subject.subject_id)
        head = audit_store().head(stream)
        audit_store().append(stream, head["seq"] if head else 0, actor=actor, action="subject_status",
                             changes=[{"path": "/status", "old": subject.status, "new": status}],
                             state={"status": status}, head=head,
                             context={"study": study.oid, "subject": subject.subject_id, "site": subject.site})
        Subject.objects(key=subject.key).update(set__status=status)
        subject.status = status
    return status


def dependent_forms(study: StudyRuntime, event_oid: str, form_oid: str) -> set[str]:
    """Forms whose derivations or checks read the given form instance (directly or via subject facts)."""
    fact_sources = {tuple(path.split(".")[:2]) for path in study.study.get("subject_facts", {}).values()}
    touches_facts = (event_oid, form_oid) in fact_sources
    return {
        oid for oid, form in study.forms.items()
        if (event_oid, form_oid) in form.record_refs or (touches_facts and form.reads_subject)
    }


def recheck_dependents(study: StudyRuntime, subject_id: str, event_oid: str, form_oid: str) -> int:
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
        query = {"study": study.oid, "subject": subject_id, "form": {"$in": sorted(forms)}}
        own = record_stream(study.oid, subject_id, event_oid, form_oid)
        for stored in Record._get_collection().find(query):
            if stored["_id"] != own and recheck_record(study, stored) == "updated":
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


def replay_all(progress=None) -> int:
    """Rebuild every record projection from its stream; returns how many."""
    store = audit_store()
    collection = Record._get_collection()
    count = 0
    for stream, events in store.walk():
        if not stream.startswith("record/"):
            continue
        projection = fold(events)
        context = events[-1].get("context") or {}
        document = {k: projection.get(k) for k in FOLDED if k in projection}
        document.update(version=projection["version"], head=projection["head"],
                        updated_at=events[-1]["at"], updated_by=events[-1]["actor"],
                        **{k: context[k] for k in ("study", "subject", "site", "event", "form") if k in context})
        collection.replace_one({"_id": stream}, document, upsert=True)
        count += 1
        if progress:
            progress(count)
    return count


def verify_all(progress=None) -> list:
    """Every problem of every audit stream and record projection (empty when all hold)."""
    store = audit_store()
    collection = Record._get_collection()
    problems, seen = [], set()
    for stream, events in store.walk():
        seen.add(stream)
        projection = collection.find_one({"_id": stream}) if stream.startswith("record/") else None
        if stream.startswith("record/") and projection is None:
            from audit import StreamProblem
            problems.append(StreamProblem(stream, "stream has no projection (run ecrf audit replay)"))
            projection = None
        problems += store.verify_stream(stream, events, _folded(projection) if projection else None)
        if progress:
            progress(len(seen))
    for document in collection.find({}, {"_id": 1}):
        if document["_id"] not in seen:
            from audit import StreamProblem
            problems.append(StreamProblem(document["_id"], "projection has no audit stream (events deleted)"))
    return problems
