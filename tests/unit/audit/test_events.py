"""Audit events as values: canonical JSON, hashing, diffs by row id, applying changes."""

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from audit import apply_changes, canonical_json, diff, escape_token, event_hash, json_pointer, unescape_token


def test_canonical_json_sorts_keys_and_writes_utc_milliseconds():
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    assert canonical_json({"b": 1, "a": at}) == b'{"a":"2026-01-02T03:04:05.678Z","b":1}'


def test_canonical_json_treats_naive_times_as_utc():
    aware = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert canonical_json(aware) == canonical_json(aware.replace(tzinfo=None))


def test_event_hash_ignores_id_and_hash_but_not_content():
    event = {"stream": "s", "seq": 1, "changes": [{"path": "/A", "old": None, "new": 1}]}
    digest = event_hash(event)
    assert event_hash({**event, "_id": "x", "hash": "y"}) == digest
    assert event_hash({**event, "seq": 2}) != digest


def test_diff_reports_only_changed_items():
    assert diff({"A": 1, "B": 2}, {"A": 1, "B": 3, "C": 4}) == [
        {"path": "/B", "old": 2, "new": 3}, {"path": "/C", "old": None, "new": 4}]


def test_diff_sees_removed_items_as_new_null():
    assert diff({"A": 1}, {}) == [{"path": "/A", "old": 1, "new": None}]


def test_diff_treats_int_and_float_of_same_value_as_unchanged_but_not_bool():
    assert diff({"A": 45}, {"A": 45.0}) == []
    assert diff({"A": 1}, {"A": True}) == [{"path": "/A", "old": 1, "new": True}]


def test_diff_addresses_rows_by_row_id_not_position():
    old = {"AE": [{"row_id": "r1", "T": "fever"}, {"row_id": "r2", "T": "rash"}]}
    new = {"AE": [{"row_id": "r2", "T": "rash!"}, {"row_id": "r3", "T": "cough"}]}
    assert diff(old, new) == [
        {"path": "/AE/r1", "old": {"row_id": "r1", "T": "fever"}, "new": None},
        {"path": "/AE/r2/T", "old": "rash", "new": "rash!"},
        {"path": "/AE/r3", "old": None, "new": {"row_id": "r3", "T": "cough"}},
    ]


def test_diff_escapes_json_pointer_characters():
    assert diff({}, {"a/b~c": 1}) == [{"path": "/a~1b~0c", "old": None, "new": 1}]
    assert apply_changes({}, diff({}, {"a/b~c": 1})) == {"a/b~c": 1}


def test_json_pointer_escapes_each_part_and_unescape_token_reverses_it():
    assert json_pointer(["AE", "r/1", "~X", 0]) == "/AE/r~11/~0X/0"
    assert json_pointer([]) == ""
    assert unescape_token(escape_token("a~/b~1")) == "a~/b~1"


def test_apply_changes_does_not_modify_its_input():
    before = {"A": {"B": 1}}
    apply_changes(before, [{"path": "/A/B", "old": 1, "new": 2}])
    assert before == {"A": {"B": 1}}


scalars = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=5),
                    st.lists(st.sampled_from(["X", "Y", "Z"]), max_size=3, unique=True))
rows = st.lists(
    st.fixed_dictionaries({"row_id": st.sampled_from(["r1", "r2", "r3", "r4"]), "T": st.text(max_size=3)}),
    max_size=4, unique_by=lambda r: r["row_id"])
documents = st.dictionaries(st.sampled_from(["A", "B", "C", "D"]), scalars, max_size=4).flatmap(
    lambda d: rows.map(lambda r: {**{k: v for k, v in d.items() if v not in (None, [])}, **({"G": r} if r else {})}))


@settings(max_examples=300, deadline=None)
@given(documents, documents)
def test_applying_the_diff_turns_old_into_new_up_to_row_order(old, new):
    result = apply_changes(old, diff(old, new))
    def keyed(doc):
        return {k: (sorted(v, key=lambda r: r["row_id"]) if k == "G" else v) for k, v in doc.items()}
    assert keyed(result) == keyed(new)
