"""Which saved data open an SAE report: the study's ``expedited`` rules, matched against one record (pure).

A study names its rules in ``study.json`` under ``parameters.expedited``::

    {"form": "AE", "group": "AE", "item": "AESER", "equals": true, "kind": "serious"}
    {"form": "DEATH", "item": "DTHDTC", "present": true, "kind": "death"}
    {"form": "CRS", "item": "CRS_GRADE", "min": 3, "kind": "expedited"}

``term`` names the event on the report, ``prefill`` maps report fields to the row's items
(``{"event_term": "AETERM", "onset_date": "AESTDTC"}``). ``group`` names a repeating group: each of its rows
that matches opens its own report. ``item`` is read from the data, else from the derived values (grades are
derived). One of ``equals``, ``min`` or ``present`` decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit import ROW_ID

KINDS = ("serious", "death", "expedited")


@dataclass(frozen=True)
class Trigger:
    """One expedited-reporting rule of the study."""

    form: str
    item: str
    kind: str = "expedited"
    group: str | None = None
    equals: Any = None
    min: float | None = None
    present: bool = False
    term: str | None = None  # the event's name on the report when no item gives it ("Cytokine release syndrome")
    prefill: dict | None = None  # report field -> item of the matched row or record, copied when the report opens

    def holds(self, value: Any) -> bool:
        """True when ``value`` meets the rule."""
        if value is None or value == "" or value == []:
            return False
        if self.equals is not None:
            return value == self.equals
        if self.min is not None:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= self.min
        return self.present


@dataclass(frozen=True)
class Match:
    """A rule met by a record (``row``: the repeating row's id, None for the record as a whole)."""

    trigger: Trigger
    row: str | None
    value: Any
    facts: dict  # the row's (or the record's) data, to prefill the report


def study_triggers(parameters: dict | None) -> list[Trigger]:
    """The study's expedited rules (``parameters.expedited``); an empty list when it names none.

    :raise ValueError: on a rule without ``form`` and ``item`` or with an unknown ``kind``.
    """
    rules = []
    for rule in (parameters or {}).get("expedited") or []:
        if not rule.get("form") or not rule.get("item") or rule.get("kind", "expedited") not in KINDS:
            raise ValueError(f"expedited rule {rule!r}: needs form and item, kind one of {', '.join(KINDS)}")
        rules.append(Trigger(**{k: rule[k] for k in Trigger.__dataclass_fields__ if k in rule}))
    return rules


def matches(triggers: list[Trigger], form: str, data: dict, derived: dict | None = None) -> list[Match]:
    """Every rule that the saved record of ``form`` meets: one match per record, or per row of a group.

    A record or row meeting two rules is matched once, by the first: it is one event, reported once.
    """
    found: dict[str | None, Match] = {}
    for trigger in (t for t in triggers if t.form == form):
        if trigger.group:
            for row in data.get(trigger.group) or []:
                if isinstance(row, dict) and trigger.holds(row.get(trigger.item)) and row.get(ROW_ID):
                    found.setdefault(row[ROW_ID], Match(trigger, row[ROW_ID], row.get(trigger.item), row))
        else:
            value = data.get(trigger.item, (derived or {}).get(trigger.item))
            if trigger.holds(value):
                found.setdefault(None, Match(trigger, None, value, {**(derived or {}), **data}))
    return list(found.values())
