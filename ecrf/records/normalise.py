"""Normalising entered data: the data as it will be stored (empties dropped, times in UTC, rows with ids).

Pure: no database.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from ecrf.definitions import ROW_ID, CompiledForm
from ecrf.errors import FieldError, Invalid
from ecrf.text import pointer_token, text_fault


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
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        clean = _clean_row(children, row)
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


def _clean_row(children: dict, row: dict) -> dict:
    """The row's values without empties, its times in UTC."""
    clean = {}
    for key, value in row.items():
        if _empty(value):
            continue
        child = children.get(key)
        clean[key] = _normal_datetime(value) if child is not None and child.kind == "datetime" else value
    return clean
