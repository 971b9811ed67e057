"""Study and form definitions: read a study folder, check it, compile its forms.

A compiled form holds everything the write path and the renderer need:
the items in order, the hard-validation validator, the conditions that show
and require items, and the compiled derivations and checks. Compiled forms
are cached by the content hash of their definition.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
from jsonschema.exceptions import best_match

from audit import ROW_ID, canonical_json, json_pointer
from ecrf.config import SCHEMAS_DIR
from ecrf.errors import DefinitionError, Faults
from ecrf.expressions import ExpressionError, compile_expression

ROW_ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
LANGUAGES = ("en", "zh")


def content_hash(value: Any) -> str:
    """SHA-256 of a value's canonical JSON."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


@lru_cache(maxsize=None)
def meta_validator(name: str) -> jsonschema.Draft202012Validator:
    """The validator for a meta-schema in ``schemas/`` (``study`` or ``form``)."""
    schema = json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def meta_faults(kind: str, document: Any, file: str, faults: Faults) -> None:
    """Add every meta-schema fault of ``document`` to ``faults``."""
    for error in meta_validator(kind).iter_errors(document):
        if error.context:
            error = best_match(error.context)
        faults.add(file, json_pointer(error.absolute_path), error.message)


# ---------------------------------------------------------------- items


@dataclass
class Choice:
    value: Any
    title: str
    labels: dict

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.title


@dataclass
class Item:
    """One item of a form (or of a repeating group's row)."""

    oid: str
    kind: str
    schema: dict
    title: str
    labels: dict = field(default_factory=dict)
    help: str = ""
    help_labels: dict = field(default_factory=dict)
    unit: str | None = None
    choices: list[Choice] = field(default_factory=list)
    children: list["Item"] = field(default_factory=list)
    conditions: list[dict] = field(default_factory=list)  # any one holding shows the item
    range_analyte: str | None = None
    range_value: str | None = None  # derived value to compare with the range instead

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.title

    def help_text(self, lang: str) -> str:
        return self.help_labels.get(lang) or self.help

    @property
    def conditional(self) -> bool:
        return bool(self.conditions)

    def choice_label(self, value: Any, lang: str = "en") -> str:
        for choice in self.choices:
            if choice.value == value:
                return choice.label(lang)
        return "" if value is None else str(value)


def _kind(schema: dict) -> str:
    kind = schema.get("type")
    widget = schema.get("x-ecrf-widget")
    if kind == "array":
        return "group" if schema.get("items", {}).get("type") == "object" else "multichoice"
    if "oneOf" in schema:
        return "choice"
    if kind == "string":
        return {"date": "date", "date-time": "datetime", "time": "time"}.get(
            schema.get("format"), "textarea" if widget == "textarea" else "text"
        )
    return {"integer": "integer", "number": "number", "boolean": "boolean"}[kind]


def _choices(schema: dict) -> list[Choice]:
    entries = schema.get("oneOf") or schema.get("items", {}).get("oneOf") or []
    return [Choice(e["const"], e["title"], e.get("x-ecrf-labels", {})) for e in entries]


def _conditions_by_item(container: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for rule in container.get("allOf", []):
        for oid in rule["then"]["required"]:
            found.setdefault(oid, []).append(rule["if"])
    for trigger, targets in container.get("dependentRequired", {}).items():
        for oid in targets:
            found.setdefault(oid, []).append({"properties": {}, "required": [trigger]})
    return found


def _items(container: dict) -> list[Item]:
    conditions = _conditions_by_item(container)
    ordered = sorted(
        enumerate(container["properties"].items()),
        key=lambda pair: (pair[1][1].get("x-ecrf-order", pair[0]), pair[0]),
    )
    items = []
    for _, (oid, schema) in ordered:
        kind = _kind(schema)
        items.append(Item(
            oid=oid, kind=kind, schema=schema, title=schema["title"],
            labels=schema.get("x-ecrf-labels", {}), help=schema.get("description", ""),
            help_labels=schema.get("x-ecrf-help", {}), unit=schema.get("x-ecrf-unit"),
            choices=_choices(schema),
            children=_items(schema["items"]) if kind == "group" else [],
            conditions=conditions.get(oid, []),
            range_analyte=schema.get("x-ecrf-range"),
            range_value=schema.get("x-ecrf-range-value"),
        ))
    return items


# ---------------------------------------------------------------- conditions


def _holds(test: dict, value: Any) -> bool:
    if "const" in test and value != test["const"]:
        return False
    if "enum" in test and value not in test["enum"]:
        return False
    if "contains" in test and (not isinstance(value, list) or test["contains"]["const"] not in value):
        return False
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    for key, compare in (
        ("minimum", lambda v, b: v >= b), ("maximum", lambda v, b: v <= b),
        ("exclusiveMinimum", lambda v, b: v > b), ("exclusiveMaximum", lambda v, b: v < b),
    ):
        if key in test and not (numeric and compare(value, test[key])):
            return False
    return True


def condition_holds(condition: dict, data: dict) -> bool:
    """JSON Schema semantics of a restricted ``if``: the browser evaluates the same."""
    if any(data.get(oid) is None for oid in condition.get("required", [])):
        return False
    return all(
        _holds(test, data[oid]) for oid, test in condition.get("properties", {}).items() if oid in data
    )


def is_shown(item: Item, data: dict) -> bool:
    """True when the item is shown (and may hold a value) for this data."""
    return not item.conditions or any(condition_holds(c, data) for c in item.conditions)


# ---------------------------------------------------------------- formats


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")

_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        raise ValueError("expected a date YYYY-MM-DD")
    dt.date.fromisoformat(value)
    return True


@_formats.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATETIME.match(value):
        raise ValueError("expected a date and time with its UTC offset, e.g. 2026-01-31T14:30:00Z")
    dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@_formats.checks("time", raises=ValueError)
def _is_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _TIME.match(value):
        raise ValueError("expected a time HH:MM")
    dt.time.fromisoformat(value)
    return True


def _passes(check) -> Any:
    def passes(value: str) -> bool:
        try:
            return bool(check(value))
        except ValueError:
            return False
    return passes


# The same format rules for the fast validator (which only says yes or no).
_FAST_FORMATS = {"date": _passes(_is_date), "date-time": _passes(_is_datetime), "time": _passes(_is_time)}


def fast_validator(schema: dict):
    """A compiled (Rust) validator of ``schema`` with the engine's formats: a quick yes for valid data.

    Only its yes is trusted; data it rejects go to the ``jsonschema``
    validator, which names each fault.
    """
    return jsonschema_rs.Draft202012Validator(schema, formats=_FAST_FORMATS, validate_formats=True)


def _hard_schema(container: dict) -> dict:
    """The schema of what may be stored: types, formats, code lists, bounds; no required."""
    properties = {}
    for oid, schema in container["properties"].items():
        schema = {k: v for k, v in schema.items() if not k.startswith("x-ecrf-") and k not in ("title", "description")}
        if "oneOf" in schema:
            schema["enum"] = [entry["const"] for entry in schema.pop("oneOf")]
        if schema.get("type") == "array":
            inner = schema["items"]
            if inner.get("type") == "object":
                schema["items"] = _hard_schema(inner)
                schema["items"]["properties"][ROW_ID] = {"type": "string", "pattern": ROW_ID_PATTERN}
            else:
                schema["items"] = {"type": inner["type"], "enum": [e["const"] for e in inner["oneOf"]]}
        properties[oid] = schema
    return {"type": "object", "properties": properties, "additionalProperties": False}


# ---------------------------------------------------------------- compiled form


@dataclass
class Derivation:
    oid: str
    spec: dict
    program: Any

    def label(self, lang: str) -> str:
        return self.spec.get("x-ecrf-labels", {}).get(lang) or self.spec["title"]

    def choice_label(self, value: Any, lang: str = "en") -> str:
        for entry in self.spec.get("oneOf", []):
            if entry["const"] == value:
                return entry.get("x-ecrf-labels", {}).get(lang) or entry["title"]
        return "" if value is None else str(value)


@dataclass
class Check:
    id: str
    rule: str
    item: str
    message: dict
    severity: str
    program: Any
    inputs: frozenset[str] | None = None  # items and derived values the rule reads; None: anything

    @property
    def per_row(self) -> bool:
        return "/*/" in self.item

    def reads_any(self, changed: set[str]) -> bool:
        """Whether the rule may give another answer once ``changed`` (item and derived OIDs) differ."""
        return self.inputs is None or bool(self.inputs & changed)


# Rules reading these may change their answer without this record changing.
# (Parameters and the event's day and window are fixed for one study version,
# and a record only reuses answers given under the same version.)
_OUTSIDE_RECORD = {"records", "subject", "ranges"}
EVENT_INPUT = "event"  # the input that stands for the event (its date is the record's date item)
_RECORD_VARIABLE = re.compile(r"\b(data|derived|row)\b")
_RECORD_MEMBER = re.compile(r"\b(data|derived|row)\.([A-Za-z_][A-Za-z0-9_]*)")


def rule_inputs(program: Any, source: str, item: str) -> frozenset[str] | None:
    """The item and derived OIDs a check reads, or None when it may read anything.

    Only rules that name each value they read (``data.X``, ``derived.X``,
    ``row.X`` for the check's own group) get a set; reading the event adds
    :data:`EVENT_INPUT`. A rule that reads other records, the subject or
    ranges, or passes ``data`` whole to a function, is re-evaluated on every
    save.
    """
    variables = set(program.variables())
    if variables & _OUTSIDE_RECORD:
        return None
    members = _RECORD_MEMBER.findall(source)
    if len(members) != len(_RECORD_VARIABLE.findall(source)):
        return None
    group = item.split("/")[1] if "/*/" in item else None
    inputs = {name for variable, name in members if variable != "row"}
    if "event" in variables:
        inputs.add(EVENT_INPUT)
    if any(variable == "row" for variable, _ in members):
        if group is None:
            return None
        inputs.add(group)
    return frozenset(inputs)


# records.EVENT.FORM.ITEM or get(records, 'EVENT.FORM.ITEM')
_RECORD_REF = re.compile(r"records(?:\s*,\s*['\"]|\.)([A-Z][A-Z0-9_]*)\.([A-Z][A-Z0-9_]*)(?:\.([A-Z][A-Z0-9_]*))?")


class CompiledForm:
    """A form definition made ready for rendering and saving."""

    def __init__(self, oid: str, schema: dict, stage: str = ""):
        self.oid = oid
        self.schema = schema
        self.stage = stage
        self.hash = content_hash(schema)
        self.title = schema["title"]
        self.labels = schema.get("x-ecrf-labels", {})
        self.items = _items(schema)
        self.item_by_oid = {item.oid: item for item in self.items}
        self.date_item = schema.get("x-ecrf-date-item")
        hard = _hard_schema(schema)
        self.validator = jsonschema.Draft202012Validator(hard, format_checker=_formats)
        self.fast_validator = fast_validator(hard)
        self.derivations = [
            Derivation(oid, spec, compile_expression(spec["expr"]))
            for oid, spec in schema.get("x-ecrf-derived", {}).items()
        ]
        self.checks = []
        for c in schema.get("x-ecrf-checks", []):
            program = compile_expression(c["rule"])
            self.checks.append(Check(c["id"], c["rule"], c["item"], c["message"], c.get("severity", "query"),
                                     program, rule_inputs(program, c["rule"], c["item"])))
        references = set()
        for program in [d.program for d in self.derivations] + [c.program for c in self.checks]:
            references.update(program.variables())
        self.references = frozenset(references)
        self.reads_records = "records" in references
        self.reads_subject = bool(references & {"subject", "ranges"})
        self.has_ranges = any(item.range_analyte or any(child.range_analyte for child in item.children)
                              for item in self.items)
        # Reference ranges flag the form's lab items or its rules read them.
        self.uses_ranges = self.has_ranges or "ranges" in references
        # Subject facts (sex, age) pick a lab's reference range.
        self.reads_other_records = self.reads_records or self.reads_subject or self.has_ranges
        sources = [d.spec["expr"] for d in self.derivations] + [c.rule for c in self.checks]
        mentions = [match for source in sources for match in _RECORD_REF.findall(source)]
        self.record_refs = {(event, form) for event, form, _ in mentions}
        # Every mention of ``records`` names its event and form: only those records need reading.
        self.record_refs_complete = all(
            len(re.findall(r"\brecords\b", source)) == len(_RECORD_REF.findall(source)) for source in sources
        )
        # ... and when every one names its item too, expressions are handed only those items.
        self.record_items: dict[tuple[str, str], set[str]] | None = None
        if self.record_refs_complete and all(item for _, _, item in mentions):
            self.record_items = {}
            for event, form, item in mentions:
                self.record_items.setdefault((event, form), set()).add(item)

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.title

    def missing_items(self, data: dict) -> list[str]:
        """JSON pointers of required items that are shown and still empty."""
        return _missing(self.schema, self.items, data, "")

    def hidden_items(self, data: dict) -> set[str]:
        """JSON pointers of every item its condition hides for this data (rows included)."""
        return set(_hidden(self.items, data, ""))

    def hidden_with_value(self, data: dict) -> list[str]:
        """JSON pointers of items that hold a value while their condition hides them."""
        return _hidden_filled(self.items, data, "")


def _missing(container: dict, items: list[Item], data: dict, prefix: str) -> list[str]:
    required = set(container.get("required", []))
    missing = []
    for item in items:
        shown = is_shown(item, data)
        value = data.get(item.oid)
        if value is None:
            if item.oid in required or (item.conditional and shown):
                missing.append(f"{prefix}/{item.oid}")
        elif item.kind == "group":
            for row in value:
                missing += _missing(item.schema["items"], item.children, row, f"{prefix}/{item.oid}/{row.get(ROW_ID)}")
    return missing


def _hidden_filled(items: list[Item], data: dict, prefix: str) -> list[str]:
    found = []
    for item in items:
        value = data.get(item.oid)
        if value is None:
            continue
        if not is_shown(item, data):
            found.append(f"{prefix}/{item.oid}")
        elif item.kind == "group":
            for row in value:
                found += _hidden_filled(item.children, row, f"{prefix}/{item.oid}/{row.get(ROW_ID)}")
    return found


def _hidden(items: list[Item], data: dict, prefix: str) -> list[str]:
    found = []
    for item in items:
        if not is_shown(item, data):
            found.append(f"{prefix}/{item.oid}")
        elif item.kind == "group":
            for row in data.get(item.oid) or []:
                found += _hidden(item.children, row, f"{prefix}/{item.oid}/{row.get(ROW_ID)}")
    return found


@lru_cache(maxsize=1024)
def _compiled(definition_hash: str, oid: str, stage: str, schema_json: str) -> CompiledForm:
    return CompiledForm(oid, json.loads(schema_json), stage)


def compile_form(oid: str, schema: dict, stage: str = "") -> CompiledForm:
    """The compiled form, cached by the definition's content hash."""
    return _compiled(content_hash(schema), oid, stage, json.dumps(schema))


# ---------------------------------------------------------------- study folders


@dataclass
class StudyDefinition:
    """A study as read from its folder: ``study.json`` plus its forms."""

    study: dict
    forms: dict[str, dict]  # oid -> {"stage", "file", "schema"}
    path: str = ""

    @property
    def oid(self) -> str:
        return self.study["oid"]

    @property
    def version(self) -> str:
        return self.study["version"]

    @property
    def hash(self) -> str:
        return content_hash({"study": self.study, "forms": {k: v["schema"] for k, v in self.forms.items()}})

    def form_stage(self, oid: str) -> str:
        return self.forms[oid]["stage"]


def read_study(path: str | Path) -> StudyDefinition:
    """Read and check a study folder; :class:`DefinitionError` listing every fault."""
    folder = Path(path)
    faults = Faults()
    study_file = folder / "study.json"
    study = _read_json(study_file, folder, faults)
    forms: dict[str, dict] = {}
    if not folder.is_dir():
        faults.add(str(folder), "/", "not a folder")
        raise DefinitionError(faults)
    for file in sorted(folder.glob("*/*.json")):
        relative = str(file.relative_to(folder))
        schema = _read_json(file, folder, faults)
        oid = file.stem
        if not re.match(r"^[A-Z][A-Z0-9_]*$", oid):
            faults.add(relative, "/", f"form file name {oid!r} is not a form OID (A-Z, 0-9, _)")
            continue
        if oid in forms:
            faults.add(relative, "/", f"duplicate form OID {oid!r} (also in {forms[oid]['file']})")
            continue
        if schema is not None:
            forms[oid] = {"stage": file.parent.name, "file": relative, "schema": schema}
    if study is not None:
        definition = StudyDefinition(study, forms, str(folder))
        check_study(definition, faults)
    if faults:
        raise DefinitionError(faults)
    return definition


def _read_json(file: Path, folder: Path, faults: Faults) -> Any:
    name = str(file.relative_to(folder)) if file.is_relative_to(folder) else str(file)
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        faults.add(name, "/", "file not found")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        faults.add(name, "/", f"not valid JSON: {exc}")
    return None


def check_study(definition: StudyDefinition, faults: Faults) -> None:
    """Add every fault of the study and its forms to ``faults``."""
    study = definition.study
    meta_faults("study", study, "study.json", faults)
    for oid, form in definition.forms.items():
        before = len(faults.items)
        meta_faults("form", form["schema"], form["file"], faults)
        if len(faults.items) == before:
            _check_form(oid, form, faults)
    if faults:
        return
    if not definition.forms:
        faults.add("study.json", "/", "the study has no forms: add at least one form file in a stage folder")
    stages = {stage["oid"] for stage in study["stages"]}
    for oid, form in definition.forms.items():
        if form["stage"] not in stages:
            faults.add(form["file"], "/", f"folder {form['stage']!r} is not a stage of study.json")
    seen = set()
    for index, event in enumerate(study["events"]):
        pointer = f"/events/{index}"
        if event["oid"] in seen:
            faults.add("study.json", f"{pointer}/oid", f"duplicate event OID {event['oid']!r}")
        seen.add(event["oid"])
        if event["stage"] not in stages:
            faults.add("study.json", f"{pointer}/stage", f"unknown stage {event['stage']!r}")
        for position, form in enumerate(event["forms"]):
            if form not in definition.forms:
                faults.add("study.json", f"{pointer}/forms/{position}", f"no form {form!r} in the study folder")


def _check_container(container: dict, file: str, pointer: str, faults: Faults) -> None:
    names = set(container["properties"])
    for index, oid in enumerate(container.get("required", [])):
        if oid not in names:
            faults.add(file, f"{pointer}/required/{index}", f"required names unknown item {oid!r}")
    for trigger, targets in container.get("dependentRequired", {}).items():
        for oid in [trigger, *targets]:
            if oid not in names:
                faults.add(file, f"{pointer}/dependentRequired/{trigger}", f"unknown item {oid!r}")
    for index, rule in enumerate(container.get("allOf", [])):
        at = f"{pointer}/allOf/{index}"
        for oid in list(rule["if"]["properties"]) + rule["if"].get("required", []):
            if oid not in names:
                faults.add(file, f"{at}/if", f"condition tests unknown item {oid!r}")
        for position, oid in enumerate(rule["then"]["required"]):
            if oid not in names:
                faults.add(file, f"{at}/then/required/{position}", f"unknown item {oid!r}")
    for oid, schema in container["properties"].items():
        if oid == ROW_ID.upper():
            faults.add(file, f"{pointer}/properties/{oid}", "ROW_ID is reserved")
        if schema.get("type") == "array" and schema["items"].get("type") == "object":
            _check_container(schema["items"], file, f"{pointer}/properties/{oid}/items", faults)
        else:
            _check_choices(schema, file, f"{pointer}/properties/{oid}", faults)


# Which choice values fit which item type: a code list that does not fit leaves an item that accepts nothing.
CHOICE_FITS = {"string": lambda v: isinstance(v, str), "boolean": lambda v: False,
               "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
               "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)}


def _check_choices(schema: dict, file: str, pointer: str, faults: Faults) -> None:
    """A fault for each code-list value that does not fit its item's type."""
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        schema, pointer = schema["items"], f"{pointer}/items"
    fits = CHOICE_FITS.get(schema.get("type"))
    for index, choice in enumerate(schema.get("oneOf", [])):
        if fits is not None and not fits(choice.get("const")):
            faults.add(file, f"{pointer}/oneOf/{index}/const",
                       f"code {choice.get('const')!r} does not fit the item's type {schema['type']!r}")


def _check_form(oid: str, form: dict, faults: Faults) -> None:
    schema, file = form["schema"], form["file"]
    _check_container(schema, file, "", faults)
    names = set(schema["properties"])
    date_item = schema.get("x-ecrf-date-item")
    if date_item and date_item not in names:
        faults.add(file, "/x-ecrf-date-item", f"unknown item {date_item!r}")
    for name, spec in schema.get("x-ecrf-derived", {}).items():
        if name in names:
            faults.add(file, f"/x-ecrf-derived/{name}", "a derived value may not share an item's OID")
        try:
            compile_expression(spec["expr"])
        except ExpressionError as exc:
            faults.add(file, f"/x-ecrf-derived/{name}/expr", f"expression does not compile: {exc}")
    for oid, item in schema["properties"].items():
        target = item.get("x-ecrf-range-value")
        if target and target not in schema.get("x-ecrf-derived", {}):
            faults.add(file, f"/properties/{oid}/x-ecrf-range-value", f"no derived value {target!r}")
    check_ids = set()
    for index, check in enumerate(schema.get("x-ecrf-checks", [])):
        at = f"/x-ecrf-checks/{index}"
        if check["id"] in check_ids:
            faults.add(file, f"{at}/id", f"duplicate check id {check['id']!r}")
        check_ids.add(check["id"])
        parts = check["item"].split("/")[1:]
        target = schema["properties"].get(parts[0])
        if target is None:
            faults.add(file, f"{at}/item", f"check points at unknown item {check['item']!r}")
        elif len(parts) == 3 and (target.get("items", {}).get("type") != "object" or parts[2] not in target["items"]["properties"]):
            faults.add(file, f"{at}/item", f"check points at unknown row item {check['item']!r}")
        try:
            compile_expression(check["rule"])
        except ExpressionError as exc:
            faults.add(file, f"{at}/rule", f"expression does not compile: {exc}")
