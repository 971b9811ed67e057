"""Which queries an operation sends, how long each shape takes, and how the server plans them.

Captures every ``find``/``count``/``aggregate`` command sent while a callable
runs (pymongo command monitoring), groups them by shape (collection, filter
keys and operators, sort), and asks the server to ``explain`` one of each: a
``COLLSCAN`` reads the whole collection on every call.
"""

from __future__ import annotations

import json

import pymongo.monitoring

from bench.common import register_listener

_capture: list | None = None


def _shape(value):
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return "?"


class _Capture(pymongo.monitoring.CommandListener):
    def __init__(self):
        self.started_at: dict[int, dict] = {}

    def started(self, event):
        if _capture is None or event.command_name not in ("find", "count", "aggregate", "distinct"):
            return
        command = event.command
        entry = {"command": event.command_name, "collection": command.get(event.command_name),
                 "filter": dict(command.get("filter") or command.get("query") or {}),
                 "sort": dict(command.get("sort") or {}), "database": event.database_name}
        self.started_at[event.request_id] = entry

    def succeeded(self, event):
        entry = self.started_at.pop(event.request_id, None)
        if entry is not None and _capture is not None:
            entry["micros"] = event.duration_micros
            _capture.append(entry)

    def failed(self, event):
        self.started_at.pop(event.request_id, None)


LISTENER = _Capture()


def install() -> None:
    """Register the listener (before the clients to watch are created)."""
    register_listener(LISTENER)


def capture(fn, db) -> list[dict]:
    """Run ``fn()``; return one entry per query shape it sent, slowest total first, with the server's plan."""
    global _capture
    _capture = []
    try:
        fn()
        sent = _capture
    finally:
        _capture = None
    shapes: dict[str, dict] = {}
    for entry in sent:
        if entry["command"] != "find" or not isinstance(entry["collection"], str):
            continue
        key = json.dumps([entry["collection"], _shape(entry["filter"]), entry["sort"]], sort_keys=True)
        shape = shapes.setdefault(key, {"collection": entry["collection"], "filter": _shape(entry["filter"]),
                                        "sort": entry["sort"], "calls": 0, "ms": 0.0, "example": entry})
        shape["calls"] += 1
        shape["ms"] += entry["micros"] / 1000
    result = []
    for shape in sorted(shapes.values(), key=lambda s: -s["ms"]):
        example = shape.pop("example")
        shape["stage"] = plan_stage(db, example)
        shape["ms"] = round(shape["ms"], 2)
        shape["ms_per_call"] = round(shape["ms"] / shape["calls"], 3)
        result.append(shape)
    return result


def plan_stage(db, entry: dict) -> str:
    """The winning plan, as ``IXSCAN <index>`` or ``COLLSCAN``."""
    try:
        find = {"find": entry["collection"], "filter": entry["filter"]}
        if entry["sort"]:
            find["sort"] = entry["sort"]
        explained = db.command({"explain": find, "verbosity": "queryPlanner"})
        plan = explained.get("queryPlanner", {}).get("winningPlan", {})
    except Exception as exc:  # an explain failure is information too
        return f"explain failed: {exc}"
    stages = []
    while plan:
        stage = plan.get("stage", "?")
        stages.append(f"{stage} {plan['indexName']}" if plan.get("indexName") else stage)
        plan = plan.get("inputStage") or (plan.get("inputStages") or [None])[0]
    return " <- ".join(stages)


def collscans(shapes: list[dict]) -> list[str]:
    """One line per filtered query shape that the server runs as a collection scan.

    Unfiltered reads (every user, every site: small collections read whole on purpose) are left out.
    """
    return [f"{s['collection']} {json.dumps(s['filter'])} sort={json.dumps(s['sort'])}: {s['calls']} calls, "
            f"{s['ms_per_call']} ms each" for s in shapes if "COLLSCAN" in s["stage"] and s["filter"]]

