"""canonical_json writes, for every input, the bytes the original json.dumps implementation wrote.

Stored event hashes were computed with that implementation; the fast path
(orjson where it provably agrees) must never change a byte. ``reference``
below is the original code, kept here on purpose.
"""

import copy
import datetime as dt
import decimal
import enum
import json
import uuid

import pytest
from bson import ObjectId
from bson.tz_util import FixedOffset
from hypothesis import given, settings
from hypothesis import strategies as st

import audit.events
from audit import TimeOutOfRange, apply_changes, canonical_json, diff, event_hash, fold


def _reference_default(value):
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def reference(value) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_reference_default
    ).encode("utf-8")


def same_outcome(value):
    """canonical_json(value) equals reference(value), or both raise the same exception type.

    Where the reference overflowed on a time outside UTC's years 1 to 9999,
    canonical_json refuses it with TimeOutOfRange (still an OverflowError).
    """
    try:
        expected = reference(value)
    except Exception as error:  # noqa: BLE001 - the reference decides what is an error
        with pytest.raises(TimeOutOfRange if isinstance(error, OverflowError) else type(error)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


def test_the_fast_path_is_installed():
    assert audit.events.orjson is not None, "orjson is a dependency; without it canonical_json is slow"


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    pass


class Number(int):
    pass


class Real(float):
    pass


class Mapping(dict):
    pass


EDGE_CASES = [
    1e16, -1e16, 1e15, 9999999999999998.0, 1e-4, -1e-4, 9.999999999999999e-05, 1e-5, 1e-7, 5e-324,
    1.7976931348623157e308,
    0.0, -0.0, 0.1, 100.0, 1 / 3, 2.5e-3, 123456789.123,
    float("nan"), float("inf"), float("-inf"),
    2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**40,
    True, False, None, "", "é ✓ 丙氨酸 \U0001F600", "\x00\x1f\x7f\u2028\u2029\"\\/", "\ud800",
    {1: "a"}, {True: 1, None: 2, 1.5: 3}, {"b": 1, 1: 2}, {Text("k"): 1}, {(1, 2): 3},
    (1, 2), [1, (2, 3)], {1, 2}, b"bytes", bytearray(b"x"), 1 + 2j,
    Colour.RED, Level.HIGH, Text("sub"), Number(5), Real(1.5), Mapping(a=1), uuid.UUID(int=7),
    decimal.Decimal("1.10"), ObjectId("0123456789abcdef01234567"),
    dt.date(2026, 1, 2), dt.time(3, 4, 5), dt.timedelta(seconds=5),
    dt.datetime(2026, 1, 2, 3, 4, 5, 678901), dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=FixedOffset(0, "UTC")),
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=FixedOffset(330, "IST")),
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.datetime(999, 1, 2, 3, 4, 5), dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime.max,
    {"at": dt.datetime(2026, 1, 2), "nested": [{"at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)}]},
    {"a": [1, {"b": float("nan")}]}, {"a": {"b": {"c": Colour.RED}}}, [[[[[[1e-9]]]]]],
]


@pytest.mark.parametrize("value", EDGE_CASES, ids=repr)
def test_edge_cases_give_the_reference_bytes(value):
    same_outcome(value)
    same_outcome({"wrapped": value, "list": [value]})


def test_deep_nesting_gives_the_reference_bytes():
    value = [1.5]
    for _ in range(300):  # deeper than orjson allows
        value = {"k": [value]}
    same_outcome(value)


def test_circular_data_fails_as_before():
    value: dict = {}
    value["self"] = value
    same_outcome(value)


def test_every_character_is_escaped_as_before():
    for start in range(0, 0x110000, 0x1000):
        chars = "".join(chr(c) for c in range(start, min(start + 0x1000, 0x110000)) if not 0xD800 <= c <= 0xDFFF)
        assert canonical_json(chars) == reference(chars)
        keys = {c: 0 for c in chars[::7]}
        assert canonical_json(keys) == reference(keys)


def test_many_floats_format_as_repr_does():
    import random

    generator = random.Random(9)
    for _ in range(20000):
        bits = generator.getrandbits(64)
        value = __import__("struct").unpack("<d", bits.to_bytes(8, "little"))[0]
        scaled = generator.uniform(-1, 1) * 10 ** generator.randint(-6, 17)
        for number in (value, scaled, round(scaled, generator.randint(0, 6))):
            assert canonical_json([number]) == reference([number])


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(),
    st.datetimes(timezones=st.none() | st.timezones()), st.dates(),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    | st.tuples(children) | st.dictionaries(st.integers() | st.booleans(), children, max_size=2),
    max_leaves=20,
)


@settings(max_examples=1500, deadline=None)
@given(json_values)
def test_any_value_gives_the_reference_bytes(value):
    same_outcome(value)


event_like = st.fixed_dictionaries({
    "stream": st.text(max_size=30), "seq": st.integers(1, 10**6), "at": st.datetimes(timezones=st.timezones()),
    "actor": st.text(max_size=10), "action": st.sampled_from(["create", "update"]),
    "changes": st.lists(st.fixed_dictionaries({"path": st.text(max_size=10), "old": json_values, "new": json_values}),
                        max_size=5),
    "reason": st.none() | st.text(max_size=20), "state": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    "context": st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4), "prev": st.text(max_size=64),
})


@settings(max_examples=500, deadline=None)
@given(event_like)
def test_event_hashes_are_the_ones_already_stored(event):
    import hashlib

    body = {k: v for k, v in event.items() if k not in ("_id", "hash")}
    try:
        expected = hashlib.sha256(reference(body)).hexdigest()
    except OverflowError:  # a time before year 1 or after 9999 once in UTC: refused by name
        with pytest.raises(TimeOutOfRange):
            event_hash(event)
        return
    except (UnicodeEncodeError, ValueError):
        return  # lone surrogates: the reference refuses them too (checked above)
    assert event_hash({**event, "_id": "x", "hash": "y"}) == expected


# ---------------------------------------------------------------- the domain of times

PLUS_3 = dt.timezone(dt.timedelta(hours=3))
MINUS_1 = dt.timezone(dt.timedelta(hours=-1))


@pytest.mark.parametrize("value, text", [
    (dt.datetime(1, 1, 1, 3, tzinfo=PLUS_3), "1-01-01T00:00:00.000Z"),  # the first instant UTC can hold
    (dt.datetime(1, 1, 1), "1-01-01T00:00:00.000Z"),  # naive: taken as UTC
    (dt.datetime(9999, 12, 31, 22, 59, 59, 999999, tzinfo=MINUS_1), "9999-12-31T23:59:59.999Z"),  # the last
    (dt.datetime.max, "9999-12-31T23:59:59.999Z"),
], ids=["first", "naive-first", "last", "naive-max"])
def test_times_at_the_edges_of_utc_are_written(value, text):
    assert canonical_json({"at": value}) == reference({"at": value}) == f'{{"at":"{text}"}}'.encode()


@pytest.mark.parametrize("value", [
    dt.datetime(1, 1, 1, tzinfo=PLUS_3),  # hypothesis found it: 0000-12-31 21:00 in UTC
    dt.datetime(1, 1, 1, 2, 59, 59, 999999, tzinfo=PLUS_3),
    dt.datetime(9999, 12, 31, 23, tzinfo=MINUS_1),
    dt.datetime.max.replace(tzinfo=MINUS_1),
], ids=repr)
def test_times_beyond_utc_years_1_to_9999_are_refused_by_name(value):
    with pytest.raises(TimeOutOfRange, match=r"outside years 1 to 9999 in UTC") as refused:
        canonical_json({"changes": [{"new": value}]})
    assert value.isoformat() in str(refused.value)
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, OverflowError)
    with pytest.raises(TimeOutOfRange):
        event_hash({"at": value})


# ---------------------------------------------------------------- folding without copies

rows = st.lists(st.fixed_dictionaries({"row_id": st.sampled_from(["r1", "r2", "r3"]), "T": st.text(max_size=3)}),
                max_size=3, unique_by=lambda r: r["row_id"])
items = st.dictionaries(st.sampled_from(["A", "B", "C"]), st.integers(0, 3) | st.text(max_size=2), max_size=3)
documents = items.flatmap(lambda d: rows.map(lambda r: {**d, **({"G": r} if r else {})}))


@settings(max_examples=300, deadline=None)
@given(st.lists(documents, min_size=1, max_size=6))
def test_folding_with_shared_values_gives_the_same_projection(states):
    events, before = [], {}
    for seq, state in enumerate(states, start=1):
        events.append({"seq": seq, "hash": str(seq), "changes": diff(before, state), "state": {"status": str(seq)}})
        before = state
    expected = fold(copy.deepcopy(events))
    fresh = copy.deepcopy(events)  # as decoded from the database: nothing shared between events
    assert fold(fresh, share=True) == expected


def test_apply_changes_copies_unless_told_to_share():
    change = {"path": "/G", "old": None, "new": [{"row_id": "r1", "T": "a"}]}
    copied = apply_changes({}, [change])
    assert copied["G"] is not change["new"]
    shared = apply_changes({}, [change], share=True)
    assert shared["G"] is change["new"]
