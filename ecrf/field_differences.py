"""Field-by-field differences between what a stream says a document holds and what it holds.

Each differing leaf becomes one problem naming the field and both values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from audit import PROJECTION, StreamProblem

SHOWN = 80  # characters of a value a problem shows


def field_differences(
    stream: str, collection: str, expected: dict, stored: dict, label: str = ""
) -> list[StreamProblem]:
    """One problem per field (down to the leaf that differs) whose stored value is not the stream's."""
    problems = []
    for key, value in expected.items():
        for path, in_stream, in_collection in _leaves(key, value, stored.get(key)):
            problems.append(
                StreamProblem(
                    stream,
                    f"{label}field {path!r} is {_shown(in_collection)} in {collection}, "
                    f"{_shown(in_stream)} in the stream",
                    PROJECTION,
                )
            )
    return problems


def _leaves(path: str, expected: Any, stored: Any) -> Iterator[tuple[str, Any, Any]]:
    """``(path, expected, stored)`` of each differing leaf.

    Into dicts by key and lists of objects by index (then their lengths, if
    they differ: a message thread one message short); lists of plain values
    differ as a whole (a user's sites).
    """
    if _same(expected, stored):
        return
    if isinstance(expected, dict) and isinstance(stored, dict):
        for key in [*expected, *(k for k in stored if k not in expected)]:
            yield from _leaves(f"{path}/{key}", expected.get(key), stored.get(key))
    elif (
        isinstance(expected, list)
        and isinstance(stored, list)
        and (len(expected) == len(stored) or all(isinstance(v, dict) for v in (*expected, *stored)))
    ):
        for index, (left, right) in enumerate(zip(expected, stored, strict=False)):
            yield from _leaves(f"{path}/{index}", left, right)
        if len(expected) != len(stored):
            yield f"{path} (entries)", len(expected), len(stored)
    else:
        yield path, expected, stored


def _same(expected: Any, stored: Any) -> bool:
    # A flag is no number: True must not pass for 1.
    if isinstance(expected, bool) or isinstance(stored, bool):
        return type(expected) is type(stored) and expected == stored
    if isinstance(expected, dt.datetime) and isinstance(stored, dt.datetime):
        return as_utc(expected) == as_utc(stored)
    return expected == stored


def as_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware UTC time (a naive time is taken to be UTC, as the database stores it)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _shown(value: Any) -> str:
    if isinstance(value, dt.datetime):
        text = as_utc(value).isoformat(timespec="milliseconds")
    elif value is None:
        text = "absent"
    else:
        text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"
