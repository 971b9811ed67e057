"""A collection read once in key order and handed out a key at a time, as a walk in the same order reaches it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class KeyedCursor:
    """One collection in ``field`` order, handed out a key at a time as the walk reaches it.

    Documents passed over are kept as candidates for orphans. A key whose
    documents are not where the order says they would be is looked up on
    its own (when ``wanted``) before it counts as missing, so a server that
    sorts strings otherwise than Python costs lookups, never a wrong answer.
    """

    def __init__(self, collection, field: str = "_id", fields: dict | None = None):
        self.collection, self.field, self.fields = collection, field, fields
        self.cursor: Iterator[dict] = iter(collection.find({}, fields, sort=[(field, 1), ("_id", 1)]))
        self.pending: dict | None = None
        self.passed: dict[Any, dict] = {}  # _id -> document, in cursor order
        self.looked_up: set = set()  # ids handed out out of order: the cursor may still bring them

    def take(self, key: str, *, wanted: bool) -> list[dict]:
        """The documents whose ``field`` is ``key`` (looked up alone if ``wanted`` and none met in order)."""
        found = []
        while True:
            document = self.pending if self.pending is not None else next(self.cursor, None)
            self.pending = None
            if document is None:
                break
            value = document.get(self.field)
            if value == key:
                found.append(document)
                continue
            if isinstance(value, str) and value > key:
                self.pending = document
                break
            self.passed[document["_id"]] = document
        if found or not wanted:
            return found
        found = list(self.collection.find({self.field: key}, self.fields))
        self.looked_up.update(document["_id"] for document in found)
        return found

    def unmatched(self) -> list[dict]:
        """Documents never handed out: passed over, or left after the last key."""
        rest = [self.pending] if self.pending is not None else []
        self.pending = None
        return [document for document in (*self.passed.values(), *rest, *self.cursor)
                if document["_id"] not in self.looked_up]
