"""The schedule of an imported REDCap project: its events, which instruments each holds, which repeat.

A classic project (no events) becomes one event holding every instrument, so
the study is valid as it stands. A longitudinal one is built from REDCap's
events file (``unique_event_name``, ``event_name``, ``arm_num``, and where the
export has them ``day_offset``, ``offset_min``, ``offset_max``) and its
instrument–event mapping (``arm_num``, ``unique_event_name``, ``form``).
The engine has no arms: events of every arm are listed, named with their arm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ecrf.odm_import.reader import ImportError_
from ecrf.odm_import.report import Report
from ecrf.redcap.dictionary import EVENT_COLUMNS, MAPPING_COLUMNS, REPEATING_COLUMNS, read_table

STAGE = "imported"
RESERVED = {"ROW_ID"}


def engine_oid(name: str, taken: set[str]) -> str:
    """An engine OID (``^[A-Z][A-Z0-9_]*$``, at most 64 characters) for a REDCap name, unique among ``taken``."""
    candidate = re.sub(r"[^A-Za-z0-9_]+", "_", name).upper().strip("_")[:60] or "X"
    if not candidate[0].isalpha():
        candidate = "X" + candidate
    base, n = candidate, 2
    while candidate in taken or candidate in RESERVED:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


@dataclass
class Schedule:
    """The events (study.json entries), REDCap's unique event name → event OID, and what repeats."""

    events: list[dict]
    event_oids: dict[str, str] = field(default_factory=dict)
    repeating_forms: set[str] = field(default_factory=set)

    def events_holding(self, form_oid: str) -> list[str]:
        """The OIDs of the events that hold the form."""
        return [event["oid"] for event in self.events if form_oid in event["forms"]]


def _whole(path: Path, line: int, column: str, text: str, minimum: int | None = None) -> int | None:
    if not text:
        return None
    if not re.fullmatch(r"-?\d{1,6}", text) or (minimum is not None and int(text) < minimum):
        raise ImportError_(f"{path}:{line}: {column} {text[:20]!r} is not a whole number"
                           + (f" ≥ {minimum}" if minimum is not None else ""))
    return int(text)


def classic(forms: dict[str, str], report: Report) -> Schedule:
    """One event holding every instrument (REDCap's classic project)."""
    report.add("event", "EVENT", "Default event", "translated",
               "the project has no events (classic): one event holds every instrument")
    return Schedule([{"oid": "EVENT", "name": "Default event", "stage": STAGE, "day": None, "window": None,
                      "repeating": False, "forms": list(forms.values())}])


def longitudinal(forms: dict[str, str], events_path: Path | None, mapping_path: Path, report: Report) -> Schedule:
    """Events from REDCap's events file (or, without one, the mapping's event names) and the forms the mapping
    places in each; :class:`ImportError_` for a mapping naming an unknown instrument or event."""
    rows = read_table(events_path, "events file", EVENT_COLUMNS, ("unique_event_name",)) if events_path else []
    mapping = read_table(mapping_path, "instrument-event mapping", MAPPING_COLUMNS, ("unique_event_name", "form"))
    defined: dict[str, tuple[int, dict]] = {}
    for line, row in rows:
        unique = row["unique_event_name"]
        if not unique:
            raise ImportError_(f"{events_path}:{line}: event without unique_event_name")
        if unique in defined:
            raise ImportError_(f"{events_path}:{line}: event {unique!r} listed twice (also line {defined[unique][0]})")
        defined[unique] = (line, row)
    if not events_path:
        for line, row in mapping:
            defined.setdefault(row["unique_event_name"], (line, {"unique_event_name": row["unique_event_name"],
                                                                 "arm_num": row.get("arm_num", "")}))
    arms = {row.get("arm_num") or "1" for _, row in defined.values()}
    schedule, taken = Schedule([]), set()
    for unique, (line, row) in defined.items():
        oid = engine_oid(unique, taken)
        name = row.get("event_name") or row.get("custom_event_label") or unique
        if len(arms) > 1:
            name = f"{name} (arm {row.get('arm_num') or '1'})"
        day = _whole(events_path, line, "day_offset", row.get("day_offset", ""))
        before = _whole(events_path, line, "offset_min", row.get("offset_min", ""), 0)
        after = _whole(events_path, line, "offset_max", row.get("offset_max", ""), 0)
        window = {"before": before, "after": after} if day is not None and None not in (before, after) else None
        schedule.events.append({"oid": oid, "name": name, "x-ecrf-source-oid": unique, "stage": STAGE, "day": day,
                                "window": window, "repeating": False, "forms": []})
        schedule.event_oids[unique] = oid
        report.add("event", unique, name, "carried", "" if oid == unique else f"named {oid}", line)
    if len(arms) > 1:
        report.add("arm", ", ".join(sorted(arms)), None, "translated",
                   "the engine has no arms: every arm's events are listed, each named with its arm")
    by_oid = {event["oid"]: event for event in schedule.events}
    for line, row in mapping:
        unique, form = row["unique_event_name"], row["form"]
        if unique not in schedule.event_oids:
            raise ImportError_(f"{mapping_path}:{line}: event {unique!r} is not in the events file")
        if form not in forms:
            raise ImportError_(f"{mapping_path}:{line}: instrument {form!r} is not in the data dictionary")
        event = by_oid[schedule.event_oids[unique]]
        if forms[form] not in event["forms"]:
            event["forms"].append(forms[form])
    order = list(forms.values())
    for event in schedule.events:
        event["forms"].sort(key=order.index)
    return schedule


def mark_repeating(schedule: Schedule, forms: dict[str, str], path: Path, report: Report) -> None:
    """Apply REDCap's repeating instruments and events file (``event_name``, ``form_name``, ``custom_form_label``)."""
    for line, row in read_table(path, "repeating instruments file", REPEATING_COLUMNS, ("form",)):
        event, form = row.get("event_name", ""), row["form"]
        if event and event not in schedule.event_oids and len(schedule.events) > 1:
            raise ImportError_(f"{path}:{line}: event {event!r} is not an event of the project")
        if not form:
            if not event:
                raise ImportError_(f"{path}:{line}: neither an event nor an instrument")
            for entry in schedule.events:
                if entry["oid"] == schedule.event_oids.get(event):
                    entry["repeating"] = True
            report.add("repeating event", event, None, "carried", "the event may occur many times", line)
            continue
        if form not in forms:
            raise ImportError_(f"{path}:{line}: instrument {form!r} is not in the data dictionary")
        schedule.repeating_forms.add(form)
        report.add("repeating instrument", form, event or None, "translated",
                   f"its items are one repeating group {forms[form]} (an array of rows)", line)
        if row.get("custom_label"):
            report.add("custom form label", form, row["custom_label"], "dropped",
                       "REDCap's label for each instance is not kept: rows show their items", line)
