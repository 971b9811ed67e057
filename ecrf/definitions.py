"""Form definitions compiled: the items, conditions, derivations and checks of a form.

A compiled form holds everything the write path and the renderer need: the
items in order, the hard-validation validator, the conditions that show and
require items, and the compiled derivations and checks. Compiled forms are
cached by the content hash of their definition. Study folders are read and
checked by :mod:`ecrf.study_folder`.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from audit import ROW_ID, canonical_json, json_pointer
from ecrf.check_messages import render
from ecrf.config import SCHEMAS_DIR
from ecrf.errors import Faults
from ecrf.expressions import compile_expression
from ecrf.formats import FORMAT_CHECKER, fast_validator

ROW_ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
LANGUAGES = ("en", "zh")


def content_hash(value: Any) -> str:
    """SHA-256 of a value's canonical JSON."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


@cache
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
    children: list[Item] = field(default_factory=list)
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


# ---------------------------------------------------------------- stored-data schema


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
    constants: dict = field(default_factory=dict)  # message placeholder -> study parameter (ecrf.check_messages)

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
        self.validator = jsonschema.Draft202012Validator(hard, format_checker=FORMAT_CHECKER)
        self.fast_validator = fast_validator(hard)
        self.derivations = [
            Derivation(oid, spec, compile_expression(spec["expr"]))
            for oid, spec in schema.get("x-ecrf-derived", {}).items()
        ]
        self.checks = []
        for c in schema.get("x-ecrf-checks", []):
            program = compile_expression(c["rule"])
            self.checks.append(Check(c["id"], c["rule"], c["item"], c["message"], c.get("severity", "query"),
                                     program, rule_inputs(program, c["rule"], c["item"]), c.get("constants", {})))
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


def with_parameters(form: CompiledForm, parameters: dict) -> CompiledForm:
    """The form whose check messages show the study's parameter values (the same form when none names one).

    A copy: the compiled form is shared by every study version holding the same definition,
    whose parameters may differ.
    """
    if not any(check.constants for check in form.checks):
        return form
    shown = copy.copy(form)
    shown.checks = [dataclasses.replace(check, message=render(check.message, check.constants, parameters))
                    for check in form.checks]
    return shown

