"""Audit events as values: canonical form, hash, and the changes they carry.

A change is ``{"path", "old", "new"}`` where ``path`` is a JSON pointer into
the data. Repeating rows (lists of objects that carry a ``row_id``) are
addressed by row id, never by position: ``/AE/r7f3a/AETERM``. A row that
appears has ``old`` null and the whole row as ``new``; a row that goes has
the whole row as ``old`` and ``new`` null. Any other value, lists of
scalars included, changes as a whole.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

try:
    import orjson
except ImportError:  # the fast path is optional: canonical_json's bytes never depend on it
    orjson = None  # type: ignore[assignment]

GENESIS = "0" * 64
ROW_ID = "row_id"
_MISSING = object()


def utc_now() -> dt.datetime:
    """The current UTC time, truncated to milliseconds (what MongoDB keeps)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class TimeOutOfRange(ValueError, OverflowError):
    """A datetime whose UTC instant falls outside years 1 to 9999.

    canonical_json writes every time in UTC; ``datetime(1, 1, 1,
    tzinfo=+03:00)`` is 0000-12-31 21:00 in UTC, which neither Python nor BSON
    can hold, so no stored event can carry it. It is refused with a message
    naming the value (an OverflowError as before, and a ValueError: bad input).
    """


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = _as_naive_utc(value)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _as_naive_utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        raise TimeOutOfRange(
            f"{value.isoformat()} is outside years 1 to 9999 in UTC: audit times must be UTC-representable"
        ) from None


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no spaces, UTC times to the ms.

    The bytes are those of ``json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False, default=...)`` encoded as
    UTF-8, for every input: stored hashes were computed that way. Its domain
    for datetimes: naive ones are taken as UTC; aware ones must fall within
    years 1 to 9999 once in UTC, else :class:`TimeOutOfRange` is raised.
    """
    if orjson is not None:
        try:
            if _fast_path_safe(value):
                return orjson.dumps(value, default=_orjson_default, option=_ORJSON_OPTIONS)
        except (orjson.JSONEncodeError, RecursionError):
            pass  # non-str keys, surrogates, ints beyond 64 bits, deep nesting: json.dumps decides
    return _reference_json(value)


def _reference_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode("utf-8")


# Subclasses, dataclasses and date/time values go to the default hook rather
# than orjson's own formatting; the hook takes exact datetimes only.
_ORJSON_OPTIONS = (
    (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
     | orjson.OPT_PASSTHROUGH_DATACLASS) if orjson is not None else 0
)
_ZERO = dt.timedelta(0)


def _orjson_default(value: Any) -> str:
    if type(value) is not dt.datetime:
        raise TypeError("not a datetime")  # turned into JSONEncodeError: the reference path runs
    return _utc_text(value)


def _utc_text(value: dt.datetime) -> str:
    """``_json_default`` of a datetime, without its astimezone/strftime where they change nothing."""
    if value.tzinfo is not None and value.utcoffset() != _ZERO:
        return _json_default(value)
    if value.year < 1000:
        return _json_default(value)  # whether %Y pads years below 1000 depends on the C library
    return (f"{value.year}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
            f"{value.second:02d}.{value.microsecond // 1000:03d}Z")


_SAFE_LEAVES = frozenset((str, int, bool, type(None), dt.datetime))  # exact types: a subclass is not in it


def _fast_path_safe(value: Any) -> bool:
    """True when orjson writes ``value`` exactly as json.dumps does.

    That holds for exact dicts, lists, strings, ints, bools and None, exact
    datetimes (formatted by the default hook), and finite floats that repr
    writes without an exponent (1e-4 <= |x| < 1e16, or zero); there both write
    the shortest round-tripping digits. Anything else (NaN, 1e-05, 1e+16,
    enums, UUIDs, tuples, subclasses) takes the reference path.
    """
    kind = type(value)
    if kind is dict or kind is list:
        # Leaves are tested here, not by a call each: verify runs this over every event's values.
        for item in (value.values() if kind is dict else value):
            if type(item) not in _SAFE_LEAVES and not _fast_path_safe(item):
                return False
        return True
    if kind in _SAFE_LEAVES:
        return True
    if kind is float:
        return 1e-4 <= value < 1e16 or -1e16 < value <= -1e-4 or value == 0.0
    return False


def event_hash(event: dict, key: bytes | None = None) -> str:
    """The hex digest of the event's canonical JSON, without ``_id`` and ``hash``.

    HMAC-SHA-256 under ``key`` when one is given (a keyed event, which names
    its key by ``kid``), else plain SHA-256 (events written before keying).
    """
    body = canonical_json({k: v for k, v in event.items() if k not in ("_id", "hash")})
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.digest(key, body, "sha256").hex()


def escape_token(key: object) -> str:
    """``key`` (text or a number) as one token of a JSON pointer (RFC 6901): ``~`` as ``~0``, ``/`` as ``~1``."""
    return str(key).replace("~", "~0").replace("/", "~1")


def json_pointer(parts: Iterable[object]) -> str:
    """The JSON pointer of a path of keys, row ids or indexes (``""`` for the whole document)."""
    return "".join("/" + escape_token(part) for part in parts)


def unescape_token(token: str) -> str:
    """One token of a change's JSON pointer path, as the key or row id it names."""
    return token.replace("~1", "/").replace("~0", "~") if "~" in token else token


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(row, dict) and ROW_ID in row for row in value
    )


def diff(old: Any, new: Any, path: str = "") -> list[dict]:
    """The changes that turn ``old`` into ``new``, smallest first-level paths.

    Objects are compared key by key, repeating rows by row id; anything else
    is one change when it differs.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        return _diff_objects(old, new, path)
    if (_is_rows(old) or old == []) and (_is_rows(new) or new == []) and (old or new):
        return _diff_rows(old, new, path)
    if old == new and isinstance(old, bool) == isinstance(new, bool):
        return []
    return [{"path": path, "old": old, "new": new}]


def _diff_objects(old: dict, new: dict, path: str) -> list[dict]:
    changes: list[dict] = []
    for key in list(old) + [k for k in new if k not in old]:
        before, after = old.get(key, _MISSING), new.get(key, _MISSING)
        if before is _MISSING:
            changes.append({"path": f"{path}/{escape_token(key)}", "old": None, "new": after})
        elif after is _MISSING:
            changes.append({"path": f"{path}/{escape_token(key)}", "old": before, "new": None})
        else:
            changes.extend(diff(before, after, f"{path}/{escape_token(key)}"))
    return changes


def _diff_rows(old: list, new: list, path: str) -> list[dict]:
    """Repeating rows matched by row id: removed rows in their old order, then changed ones, added ones last."""
    changes: list[dict] = []
    old_rows = {row[ROW_ID]: row for row in old}
    new_rows = {row[ROW_ID]: row for row in new}
    for rid, row in old_rows.items():
        if rid not in new_rows:
            changes.append({"path": f"{path}/{escape_token(rid)}", "old": row, "new": None})
        else:
            changes.extend(diff(row, new_rows[rid], f"{path}/{escape_token(rid)}"))
    for rid, row in new_rows.items():
        if rid not in old_rows:
            changes.append({"path": f"{path}/{escape_token(rid)}", "old": None, "new": row})
    return changes


def _child(container: Any, token: str, create: bool) -> Any:
    if isinstance(container, list):
        for row in container:
            if isinstance(row, dict) and row.get(ROW_ID) == token:
                return row
        return None
    if token not in container and create:
        container[token] = {}
    return container.get(token)


def apply_changes(document: dict, changes: list[dict], *, share: bool = False) -> dict:
    """A copy of ``document`` with ``changes`` applied in order.

    Rows that appear are appended in the order their changes come; a change
    with ``new`` null removes the key or row. With ``share`` nothing is
    copied: ``document`` is changed in place and the result holds the
    changes' own values (later changes may modify them), which is only for
    callers that own both and drop the changes afterwards.
    """
    clone = _same if share else _copy
    result = clone(document)
    for change in changes:
        tokens = [unescape_token(t) for t in change["path"].split("/")[1:]]
        if not tokens:
            result = clone(change["new"]) if change["new"] is not None else {}
            continue
        parent = result
        for token in tokens[:-1]:
            parent = _child(parent, token, create=True)
            if parent is None:
                raise KeyError(f"no container at {change['path']}")
        last, new = tokens[-1], clone(change["new"])
        if isinstance(parent, list):
            index = next(
                (i for i, row in enumerate(parent) if isinstance(row, dict) and row.get(ROW_ID) == last),
                None,
            )
            if new is None:
                if index is not None:
                    parent.pop(index)
            elif index is None:
                parent.append(new)
            else:
                parent[index] = new
        elif new is None:
            parent.pop(last, None)
        else:
            parent[last] = new
    return _drop_empty_row_lists(result)


def _same(value: Any) -> Any:
    return value


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy(value: Any) -> Any:
    # Most changes carry one text or number: deepcopy's own dispatch cost more than the apply.
    return value if type(value) in _IMMUTABLE else copy.deepcopy(value)


def _drop_empty_row_lists(document: dict) -> dict:
    # A row list whose last row went is the same as an item never entered.
    for key in [k for k, v in document.items() if v == []]:
        del document[key]
    return document
