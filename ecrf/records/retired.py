"""Retired items: values a record holds for items its study version no longer has.

After a migration to a version that drops an item, the record's value moves out of ``data`` into
``retired`` (in the same audit event that says so), shown read-only on the form and in exports.
The value is never lost: the trail keeps it and the projection shows it. A client that sends such a
value back unchanged is not refused for it. Pure: no database.
"""

from __future__ import annotations

from typing import Any

from ecrf.definitions import CompiledForm


def split_retired(form: CompiledForm, stored: dict | None) -> tuple[dict, dict]:
    """``(stored data of the form's own items, retired values)``: what was retired before and what retires now."""
    data = (stored or {}).get("data") or {}
    retired = dict((stored or {}).get("retired") or {})
    retired.update({key: value for key, value in data.items() if key not in form.item_by_oid})
    return {key: value for key, value in data.items() if key in form.item_by_oid}, retired


def resent_dropped(data: Any, retired: dict) -> Any:
    """``data`` without the retired items a client sent back as they stand (anything else is validated as sent)."""
    if not retired or not isinstance(data, dict):
        return data
    return {key: value for key, value in data.items() if not (key in retired and retired[key] == value)}


def is_retirement(change: dict, retired: dict) -> bool:
    """Whether the change only moves a retired item's value out of the data (no one edited it)."""
    token = change["path"].split("/")[1] if change["path"].count("/") == 1 else None
    return token in retired and change["new"] is None
