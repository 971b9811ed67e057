"""A stored record and its audit events as the API shows them."""

from __future__ import annotations

import datetime as dt

from ecrf.api.fields.queries import query_json
from ecrf.lifecycle import lifecycle_state
from ecrf.queries import record_queries
from ecrf.times import iso


def record_json(record: dict, form) -> dict:
    """A stored record (of the compiled ``form``) with its missing items, review stamps and queries;
    times as UTC ISO-8601 text."""
    return {
        "study": record["study"],
        "subject": record["subject"],
        "site": record["site"],
        "event": record["event"],
        "form": record["form"],
        "data": record.get("data") or {},
        "derived": record.get("derived") or {},
        "status": record.get("status"),
        "missing": form.missing_items(record.get("data") or {}),
        "version": record.get("version", 0),
        "definition": record.get("definition"),
        "retired": record.get("retired") or {},
        "updated_at": iso(record.get("updated_at")),
        "updated_by": record.get("updated_by"),
        "flags": record.get("flags") or [],
        "lifecycle": lifecycle_state(record),
        "sdv": _stamp(record.get("sdv")),
        "sdv_items": {k: _stamp(v) for k, v in (record.get("sdv_items") or {}).items()},
        "sdv_changes": {k: sdv_marker_json(v) for k, v in (record.get("sdv_changes") or {}).items()},
        "signature": _stamp(record.get("signature")),
        "frozen": _stamp(record.get("frozen")),
        "locked": _stamp(record.get("locked")),
        "queries": [
            query_json(q) for q in record_queries(record["study"], record["subject"], record["event"], record["form"])
        ],
    }


def _stamp(entry: dict | None) -> dict | None:
    if not entry:
        return None
    return {k: iso(v) if isinstance(v, dt.datetime) else v for k, v in entry.items()}


def sdv_marker_json(marker: dict) -> dict:
    """A "changed since SDV" marker: the value verified (``old``), the new one, who changed it, when, and
    who had verified it."""
    return {**_stamp(marker), "verified": _stamp(marker.get("verified"))}  # type: ignore[dict-item]


def worklist_item_json(item) -> dict:
    """One form of the SDV worklist (:class:`ecrf.sdv_worklist.WorkItem`), its markers' times as UTC text."""
    return {"site": item.site, "subject": item.subject, "event": item.event, "form": item.form, "sdv": item.status,
            "verified_items": item.verified, "required_items": item.required, "signed": item.signed,
            "locked": item.locked, "changes": {k: sdv_marker_json(v) for k, v in item.markers.items()}}


def event_json(event: dict) -> dict:
    """An audit event with its chain links (``prev``, ``hash``) and the event and form it concerns."""
    context = event.get("context") or {}
    return {
        "stream": event["stream"],
        "seq": event["seq"],
        "at": iso(event["at"]),
        "actor": event["actor"],
        "action": event["action"],
        "changes": event.get("changes") or [],
        "reason": event.get("reason"),
        "event": context.get("event"),
        "form": context.get("form"),
        "prev": event["prev"],
        "hash": event["hash"],
    }
