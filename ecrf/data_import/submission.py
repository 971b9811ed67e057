"""A submission: what a file says of one form instance (subject × event × form), as changes to apply in order."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ecrf.definitions import ROW_ID
from ecrf.errors import FieldError, Invalid


class UnreadableFile(Invalid):
    """The file as a whole cannot be imported; the detail reads ``file:line: message``."""


@dataclass(frozen=True)
class Change:
    """One change: set or remove an item (in a row when ``row`` is given), remove a row, or clear the form.

    ``op`` is ``set``, ``remove``, ``remove_row`` or ``clear``.
    """

    op: str
    item: str | None = None
    value: Any = None
    group: str | None = None
    row: str | None = None


@dataclass
class Submission:
    """One form instance's changes from a file, where they were read and who made them at the source."""

    line: int
    subject: str
    event: str | None
    form: str | None
    site: str | None = None
    changes: list[Change] = field(default_factory=list)
    faults: list[FieldError] = field(default_factory=list)  # refused while reading (unknown names, bad values)
    provenance: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return self.subject, self.event, self.form


def _rows(data: dict, group: str) -> list[dict]:
    rows = data.get(group)
    if not isinstance(rows, list):
        rows = data[group] = []
    return rows


def _row(data: dict, group: str, row: str) -> dict:
    rows = _rows(data, group)
    for entry in rows:
        if isinstance(entry, dict) and entry.get(ROW_ID) == row:
            return entry
    entry = {ROW_ID: row}
    rows.append(entry)
    return entry


def applied(data: dict, changes: list[Change]) -> dict:
    """``data`` (left as it is) with ``changes`` applied in order; rows are found and made by their row id."""
    result = copy.deepcopy(data)
    for change in changes:
        if change.op == "clear":
            result = {}
        elif change.op == "remove_row":
            result[change.group] = [r for r in _rows(result, change.group)
                                    if not (isinstance(r, dict) and r.get(ROW_ID) == change.row)]
        elif change.group is not None:
            target = _row(result, change.group, change.row)
            if change.op == "set":
                target[change.item] = change.value
            elif change.item is not None:
                target.pop(change.item, None)
        elif change.op == "set":
            result[change.item] = change.value
        else:
            result.pop(change.item, None)
    return {key: value for key, value in result.items() if value != []}
