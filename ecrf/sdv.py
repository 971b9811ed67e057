"""Source data verification by item: which items a study asks a monitor to verify, what a change resets, where a
record stands.

A record keeps, per item pointer (``/ITEM``, a repeating group as a whole), who verified it, when, at which
version and a hash of the value they saw (``sdv_items``). A save that changes a verified item removes that item's
verification only and leaves a "changed since SDV" marker for it (``sdv_changes``: the value verified, the new
value, who changed it and when); verifying the item again clears the marker. ``sdv`` is the record's whole-form
stamp, set while every item the study asks for is verified and unchanged.

Targeted SDV (ICH E6(R3) risk-based monitoring) is the study parameter ``sdv``::

    {"mode": "all" | "critical" | "first_n",
     "critical_items": {"FORM": ["ITEM", ...]},   # critical: only these; first_n: these after the first N
     "first_n_per_site": 3}                       # first_n: every item for each site's first N subjects

Without the parameter every item of every form needs SDV. "First" is the order subjects were registered at
their site. The study's meta-schema checks the setting's shape, :mod:`ecrf.study_folder` its forms and items.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from audit import ROW_ID, canonical_json, utc_now
from ecrf.definitions import CompiledForm
from ecrf.subjects import Subject

# Where a saved record stands in SDV, in the order the worklist sorts them.
STATUSES = ("changed", "awaiting", "partial", "verified", "not_required")


@dataclass(frozen=True)
class SdvPlan:
    """The study's targeted-SDV setting, read from its ``sdv`` parameter."""

    mode: str = "all"
    critical: dict[str, frozenset[str]] = field(default_factory=dict)
    first_n: int = 0

    @classmethod
    def of(cls, parameters: dict | None) -> SdvPlan:
        """The plan of a study's parameters (every item of every form when it sets none)."""
        setting = (parameters or {}).get("sdv") or {}
        return cls(mode=setting.get("mode", "all"),
                   critical={form: frozenset(items) for form, items in (setting.get("critical_items") or {}).items()},
                   first_n=int(setting.get("first_n_per_site") or 0))

    def items(self, form: CompiledForm, rank: int | None) -> list[str]:
        """Pointers of ``form``'s items that need SDV for a subject registered ``rank``-th at its site (0 first).

        An empty list: the form needs no SDV for this subject.
        """
        every = [f"/{item.oid}" for item in form.items]
        if self.mode == "all" or (self.mode == "first_n" and rank is not None and rank < self.first_n):
            return every
        critical = self.critical.get(form.oid, frozenset())
        return [pointer for pointer in every if pointer[1:] in critical]

    @property
    def ranked(self) -> bool:
        """Whether a subject's rank at its site decides what it needs."""
        return self.mode == "first_n"


def site_ranks(study: str, site: str | None = None) -> dict[str, int]:
    """Each subject's place among its site's subjects in the order they were registered (0 first)."""
    query = {"study": study, **({"site": site} if site else {})}
    counts: dict[str, int] = {}
    ranks = {}
    for subject in Subject._get_collection().find(query, {"subject_id": 1, "site": 1, "created_at": 1}).sort(
            [("created_at", 1), ("subject_id", 1)]):
        ranks[subject["subject_id"]] = counts.get(subject["site"], 0)
        counts[subject["site"]] = ranks[subject["subject_id"]] + 1
    return ranks


def required_items(study, form: CompiledForm, subject_id: str, site: str,
                   ranks: dict[str, int] | None = None) -> list[str]:
    """The items of ``form`` that need SDV for one subject of ``study`` (a StudyRuntime); ``ranks`` if read."""
    plan = SdvPlan.of(study.parameters)
    if not plan.ranked:
        return plan.items(form, None)
    if ranks is None:
        ranks = site_ranks(study.oid, site)
    return plan.items(form, ranks.get(subject_id))


# ---------------------------------------------------------------- per-item state


def value_at(data: dict, pointer: str) -> Any:
    """The value ``pointer`` names in a record's data (rows by row id), or None."""
    value: Any = data
    for part in pointer.split("/")[1:]:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list):
            value = next((row for row in value if isinstance(row, dict) and row.get(ROW_ID) == part), None)
        else:
            return None
    return value


def value_hash(value: Any) -> str:
    """A short fingerprint of a verified value: shows later whether the value is still the one verified."""
    return hashlib.sha256(canonical_json(value)).hexdigest()[:16]


def covers(pointer: str, path: str) -> bool:
    """Whether a change at ``path`` touches the item at ``pointer`` (the same, inside it, or a row holding it)."""
    return path == pointer or path.startswith(pointer + "/") or pointer.startswith(path + "/")


def verified_items(record: dict, form: CompiledForm) -> dict[str, dict]:
    """The record's verification per item; a whole-form stamp alone (older records) stands for every item."""
    items = record.get("sdv_items") or {}
    if not items and record.get("sdv"):
        return {f"/{item.oid}": record["sdv"] for item in form.items}
    return dict(items)


def verification(record: dict, form: CompiledForm, pointers: list[str], user, required: list[str]) -> dict:
    """The state a monitor's verification of ``pointers`` appends: their stamps, markers cleared, the form stamp.

    The whole-form stamp is set once every required item (every item when none is) is verified and no
    marker is left.
    """
    entry = {"by": user.username, "name": user.display_name, "at": utc_now(), "version": record["version"]}
    data = record.get("data") or {}
    items = verified_items(record, form)
    items.update({pointer: {**entry, "value": value_hash(value_at(data, pointer))} for pointer in pointers})
    markers = {pointer: marker for pointer, marker in (record.get("sdv_changes") or {}).items()
               if not any(covers(pointer, chosen) for chosen in pointers)}
    state: dict[str, Any] = {"sdv_items": items}
    if markers != (record.get("sdv_changes") or {}):
        state["sdv_changes"] = markers
    done = not markers and all(pointer in items for pointer in (required or [f"/{i.oid}" for i in form.items]))
    if done and not record.get("sdv"):
        state["sdv"] = {key: entry[key] for key in ("by", "name", "at", "version")}
    return state


def reset_on_change(stored: dict, form: CompiledForm, new: dict, changes: list[dict], user) -> dict:
    """The SDV state a save of ``changes`` appends: only the changed items lose their verification.

    Each verified item a change touches leaves a marker (the value verified, the new value, who and when);
    an item already marked keeps its verified value and takes the newer one. The whole-form stamp goes
    when any verified item changed. Empty when no verified or marked item changed.
    """
    paths = [change["path"] for change in changes]
    items = verified_items(stored, form)
    markers = dict(stored.get("sdv_changes") or {})
    touched = [pointer for pointer in items if any(covers(pointer, path) for path in paths)]
    again = [pointer for pointer in markers if pointer not in items and any(covers(pointer, path) for path in paths)]
    if not touched and not again:
        return {}
    old = stored.get("data") or {}
    stamp = {"by": user.username, "name": user.display_name, "at": utc_now()}
    for pointer in touched:
        verified = items.pop(pointer)
        markers[pointer] = {"old": value_at(old, pointer), "new": value_at(new, pointer), **stamp,
                            "verified": {key: verified.get(key) for key in ("by", "name", "at")}}
    for pointer in again:
        markers[pointer] = {**markers[pointer], "new": value_at(new, pointer), **stamp}
    state: dict[str, Any] = {"sdv_items": items, "sdv_changes": markers}
    if stored.get("sdv") and touched:
        state["sdv"] = None
    return state


def sdv_status(record: dict | None, required: list[str]) -> str | None:
    """Where a saved record stands in SDV (one of :data:`STATUSES`); None when nothing is saved."""
    if not record:
        return None
    if not required:
        return "not_required"
    if record.get("sdv_changes"):
        return "changed"
    items = record.get("sdv_items") or {}
    if not items and record.get("sdv"):
        return "verified"
    done = sum(1 for pointer in required if pointer in items)
    return "verified" if done == len(required) else "partial" if done else "awaiting"
