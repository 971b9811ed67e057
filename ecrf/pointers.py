"""Item pointers: which JSON pointers name an item of a form, as queries and source data verification use them.

A pointer is ``/ITEM`` (a whole item, a repeating group included) or ``/GROUP/<row id>/ITEM`` (one item of
one row: rows are named by their stable id, never by position).
"""

from __future__ import annotations

from ecrf.definitions import ROW_ID, CompiledForm


def item_pointer_fault(form: CompiledForm, pointer: object, data: dict | None = None) -> str | None:
    """Why ``pointer`` names no item of ``form`` (a message), or None when it does.

    With the record's ``data``, a row pointer must also name a row the record holds.
    """
    if not isinstance(pointer, str):
        return "must be a JSON pointer such as /ITEM or /GROUP/<row id>/ITEM"
    parts = pointer.split("/")
    item = form.item_by_oid.get(parts[1]) if len(parts) > 1 and parts[0] == "" else None
    if item is None:
        return f"{pointer!r} is not an item of {form.oid}"
    if len(parts) == 2:
        return None
    if item.kind != "group" or len(parts) != 4 or not any(child.oid == parts[3] for child in item.children):
        return f"{pointer!r} is not an item of {form.oid}"
    if data is not None and not any(isinstance(row, dict) and row.get(ROW_ID) == parts[2]
                                    for row in data.get(item.oid) or []):
        return f"{pointer!r}: no row {parts[2]!r} in {item.oid}"
    return None
