"""Comparing two study folders: every difference a reviewer of a new version or of a round trip must see.

Compared: the study's own keys (name, version, languages, stages, parameters, …), its lab reference ranges,
the schedule (events, their order, days, windows, forms), and per form its stage, title, labels, items (in
order; type, title, labels, help, unit, choices, limits, widget, lab range …), which items are required,
the conditions that make items required and shown, edit checks (by id) and derivations (by name).
Provenance (``x-ecrf-source-oid``, ``x-ecrf-source-group``) is not meaning and is ignored; so is the order
of what has none (required lists, edit checks, lab ranges), and an event's ``repeating``/``log`` of false
equals its absence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecrf.study_folder import StudyDefinition, read_study

PROVENANCE = {"x-ecrf-source-oid", "x-ecrf-source-group"}
ABSENT = object()


@dataclass(frozen=True)
class Difference:
    """One difference: where (``form AE item /AE/*/AETERM``), which aspect, and the value on each side."""

    where: str
    aspect: str
    left: Any
    right: Any

    def __str__(self) -> str:
        return f"{self.where}: {self.aspect}: {_show(self.left)} → {_show(self.right)}"


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "…"


def _clean(value: Any) -> Any:
    """``value`` without provenance keys, at any depth."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in PROVENANCE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 25 equals 25.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=False))
    return type(a) is type(b) and a == b


def _keys(where: str, a: dict, b: dict, out: list[Difference], prefix: str = "") -> None:
    """A difference per key whose values differ (objects compared key by key, lists whole)."""
    for key in list(a) + [k for k in b if k not in a]:
        left, right = a.get(key, ABSENT), b.get(key, ABSENT)
        if isinstance(left, dict) and isinstance(right, dict):
            _keys(where, left, right, out, f"{prefix}{key}.")
        elif left is ABSENT or right is ABSENT or not _same(left, right):
            out.append(Difference(where, f"{prefix}{key}", left, right))


def _by(entries: list, key: str) -> dict:
    return {entry.get(key): entry for entry in entries if isinstance(entry, dict)}


def _sorted(values: list) -> list:
    return sorted(values, key=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))


def _items(container: dict, prefix: str = "") -> dict[str, dict]:
    """Every item of a form by JSON pointer (rows' items as ``/G/*/X``), each without its rows' definitions."""
    found = {}
    for name, schema in container.get("properties", {}).items():
        pointer = f"{prefix}/{name}"
        rows = schema.get("items") if schema.get("type") == "array" else None
        if isinstance(rows, dict) and rows.get("type") == "object":
            found[pointer] = {**schema, "items": {k: v for k, v in rows.items()
                                                  if k not in ("properties", "required", "allOf", "dependentRequired")}}
            found.update(_items(rows, f"{pointer}/*"))
        else:
            found[pointer] = schema
    return found


def _containers(schema: dict, prefix: str = "") -> dict[str, dict]:
    """The form and each of its repeating groups' rows, by the pointer prefix of their items."""
    found = {prefix: schema}
    for name, item in schema.get("properties", {}).items():
        rows = item.get("items") if item.get("type") == "array" else None
        if isinstance(rows, dict) and rows.get("type") == "object":
            found.update(_containers(rows, f"{prefix}/{name}/*"))
    return found


def _rules(schema: dict) -> dict[str, dict]:
    """Per item pointer: whether it is required, and the conditions under which it is required and shown."""
    rules: dict[str, dict] = {}
    for prefix, container in _containers(schema).items():
        for name in container.get("required", []):
            rules.setdefault(f"{prefix}/{name}", {})["required"] = True
        for entry in container.get("allOf", []):
            for name in (entry.get("then") or {}).get("required", []):
                rules.setdefault(f"{prefix}/{name}", {}).setdefault("required when", []).append(entry.get("if"))
            rest = {k: v for k, v in entry.items() if k not in ("if", "then")}
            if rest or set(entry.get("then") or {}) - {"required"}:
                rules.setdefault(prefix or "/", {}).setdefault("other allOf", []).append(entry)
        for trigger, targets in container.get("dependentRequired", {}).items():
            for name in targets:
                rules.setdefault(f"{prefix}/{name}", {}).setdefault("required with", []).append(trigger)
    return {pointer: {k: _sorted(v) if isinstance(v, list) else v for k, v in rule.items()}
            for pointer, rule in rules.items()}


def _form(oid: str, a: dict, b: dict, out: list[Difference]) -> None:
    where = f"form {oid}"
    if a["stage"] != b["stage"]:
        out.append(Difference(where, "stage", a["stage"], b["stage"]))
    left, right = _clean(a["schema"]), _clean(b["schema"])
    said = ("properties", "required", "allOf", "dependentRequired", "x-ecrf-checks", "x-ecrf-derived")
    rest_left = {k: v for k, v in left.items() if k not in said}
    rest_right = {k: v for k, v in right.items() if k not in said}
    _keys(where, rest_left, rest_right, out)
    items_a, items_b = _items(left), _items(right)
    if [p for p in items_a if p in items_b] != [p for p in items_b if p in items_a]:
        out.append(Difference(where, "item order", list(items_a), list(items_b)))
    for pointer in list(items_a) + [p for p in items_b if p not in items_a]:
        if pointer not in items_a or pointer not in items_b:
            out.append(
                Difference(
                    f"{where} item {pointer}", "item", items_a.get(pointer, ABSENT), items_b.get(pointer, ABSENT)
                )
            )
        else:
            _keys(f"{where} item {pointer}", items_a[pointer], items_b[pointer], out)
    _keys(f"{where} rules", _rules(left), _rules(right), out)
    _keys(f"{where} check", _by(left.get("x-ecrf-checks", []), "id"), _by(right.get("x-ecrf-checks", []), "id"), out)
    _keys(f"{where} derivation", left.get("x-ecrf-derived", {}), right.get("x-ecrf-derived", {}), out)


def _event(event: dict) -> dict:
    return {k: v for k, v in _clean(event).items() if not (k in ("repeating", "log") and v is False)}


def diff_studies(a: StudyDefinition, b: StudyDefinition) -> list[Difference]:
    """Every difference between two studies, study first, then schedule, lab ranges and forms."""
    out: list[Difference] = []
    left, right = _clean(a.study), _clean(b.study)
    _keys(
        "study",
        {k: v for k, v in left.items() if k not in ("events", "lab_ranges")},
        {k: v for k, v in right.items() if k not in ("events", "lab_ranges")},
        out,
    )
    events_a, events_b = _by(left.get("events", []), "oid"), _by(right.get("events", []), "oid")
    if [e for e in events_a if e in events_b] != [e for e in events_b if e in events_a]:
        out.append(Difference("schedule", "event order", list(events_a), list(events_b)))
    for oid in list(events_a) + [e for e in events_b if e not in events_a]:
        if oid not in events_a or oid not in events_b:
            out.append(
                Difference(f"schedule event {oid}", "event", events_a.get(oid, ABSENT), events_b.get(oid, ABSENT))
            )
        else:
            _keys(f"schedule event {oid}", _event(events_a[oid]), _event(events_b[oid]), out)
    ranges_a, ranges_b = _sorted(left.get("lab_ranges", [])), _sorted(right.get("lab_ranges", []))
    if not _same(ranges_a, ranges_b):
        out.append(
            Difference(
                "lab ranges",
                "ranges",
                [r for r in ranges_a if r not in ranges_b],
                [r for r in ranges_b if r not in ranges_a],
            )
        )
    for oid in list(a.forms) + [f for f in b.forms if f not in a.forms]:
        if oid not in a.forms or oid not in b.forms:
            out.append(
                Difference(
                    f"form {oid}",
                    "form",
                    (a.forms.get(oid) or {}).get("file", ABSENT),
                    (b.forms.get(oid) or {}).get("file", ABSENT),
                )
            )
        else:
            _form(oid, a.forms[oid], b.forms[oid], out)
    return out


def diff_folders(a: str | Path, b: str | Path) -> list[Difference]:
    """:func:`diff_studies` of two study folders, each read and checked (:class:`DefinitionError` if broken)."""
    return diff_studies(read_study(a), read_study(b))
