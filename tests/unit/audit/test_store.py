"""The event store: append with optimistic concurrency, fold, verify every kind of tampering."""

import mongomock
import pytest

from audit import GENESIS, AuditStore, StaleVersion, event_hash, fold
from audit.keys import Keyring

KEYRING = Keyring({"k1": b"k" * 32}, "k1")


@pytest.fixture
def store():
    collection = mongomock.MongoClient().db.audit_events
    store = AuditStore(collection, KEYRING)
    store.ensure_indexes()
    return store


def keyed_hash(event):
    return event_hash(event, KEYRING.keys[event["kid"]])


def append_three(store, stream="s"):
    for version, value in enumerate([1, 2, 3]):
        old = value - 1 if version else None
        store.append(stream, version, actor="u", action="update",
                     changes=[{"path": "/A", "old": old, "new": value}], state={"status": "complete"})


def test_append_chains_each_event_to_the_one_before(store):
    append_three(store)
    events = store.events("s")
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert events[0]["prev"] == GENESIS
    assert events[1]["prev"] == events[0]["hash"] and events[2]["prev"] == events[1]["hash"]
    assert all(keyed_hash(e) == e["hash"] and e["kid"] == "k1" for e in events)


def test_append_with_a_stale_version_stores_nothing(store):
    append_three(store)
    with pytest.raises(StaleVersion):
        store.append("s", 1, actor="u", action="update")
    with pytest.raises(StaleVersion):
        store.append("s", 7, actor="u", action="update")
    assert len(store.events("s")) == 3


def test_append_all_writes_to_several_streams_in_one_call(store):
    store.append("a", 0, actor="u", action="create")
    events = store.append_all([
        {"stream": "a", "expected_version": 1, "actor": "u", "action": "update", "head": store.head("a")},
        {"stream": "b", "expected_version": 0, "actor": "u", "action": "create", "head": None},
    ])
    assert [(e["stream"], e["seq"]) for e in events] == [("a", 2), ("b", 1)]
    assert store.events("a")[1]["prev"] == store.events("a")[0]["hash"]
    assert store.events("b")[0]["prev"] == GENESIS
    assert all(keyed_hash(e) == e["hash"] for e in store.events("a") + store.events("b"))


def test_append_all_stores_the_events_before_a_stale_stream_and_none_after(store):
    store.append("b", 0, actor="u", action="create")
    stale_head = {"seq": 0, "hash": GENESIS}  # what a writer that read "b" before its first event holds
    with pytest.raises(StaleVersion) as raised:
        store.append_all([
            {"stream": "a", "expected_version": 0, "actor": "u", "action": "create",
             "head": {"seq": 0, "hash": GENESIS}},
            {"stream": "b", "expected_version": 0, "actor": "u", "action": "update", "head": stale_head},
            {"stream": "c", "expected_version": 0, "actor": "u", "action": "create",
             "head": {"seq": 0, "hash": GENESIS}},
        ])
    assert raised.value.stream == "b"
    assert [e["stream"] for e in raised.value.stored] == ["a"]
    assert len(store.events("a")) == 1 and len(store.events("b")) == 1 and store.events("c") == []


def test_fold_rebuilds_data_and_state(store):
    append_three(store)
    projection = fold(store.events("s"))
    assert projection["data"] == {"A": 3}
    assert projection["status"] == "complete" and projection["version"] == 3


def test_verify_accepts_an_untouched_stream(store):
    append_three(store)
    events = store.events("s")
    assert store.verify_stream("s", events, fold(events)) == []


def tamper_edit(store):
    store.collection.update_one({"stream": "s", "seq": 2}, {"$set": {"changes.0.new": 99}})


def tamper_delete_middle(store):
    store.collection.delete_one({"stream": "s", "seq": 2})


def tamper_delete_last(store):
    store.collection.delete_one({"stream": "s", "seq": 3})


def tamper_reorder(store):
    one = store.collection.find_one({"stream": "s", "seq": 1})
    two = store.collection.find_one({"stream": "s", "seq": 2})
    store.collection.update_one({"_id": one["_id"]}, {"$set": {"seq": -1}})
    store.collection.update_one({"_id": two["_id"]}, {"$set": {"seq": 1}})
    store.collection.update_one({"_id": one["_id"]}, {"$set": {"seq": 2}})


def tamper_forge_with_recomputed_hash(store):
    head = store.head("s")
    forged = {"stream": "s", "seq": 4, "at": head["at"], "actor": "mallory", "action": "update",
              "changes": [{"path": "/A", "old": 3, "new": 0}], "reason": None, "state": {},
              "context": {}, "prev": head["hash"]}
    forged["hash"] = event_hash(forged)  # a plain SHA-256 chain anyone with the database can recompute
    store.collection.insert_one(forged)


def tamper_forge_without_hash(store):
    store.collection.insert_one({"stream": "s", "seq": 4, "actor": "mallory", "changes": [],
                                 "prev": "f" * 64, "hash": "0" * 64})


@pytest.mark.parametrize("tamper", [tamper_edit, tamper_delete_middle, tamper_delete_last, tamper_reorder,
                                    tamper_forge_with_recomputed_hash, tamper_forge_without_hash])
def test_verify_names_the_stream_after_any_tampering(store, tamper):
    append_three(store)
    append_three(store, "other")
    projections = {s: fold(store.events(s)) for s in ("s", "other")}
    tamper(store)
    problems = {s: store.verify_stream(s, store.events(s), projections[s]) for s in ("s", "other")}
    assert problems["s"], f"{tamper.__name__} went unnoticed"
    assert all(p.stream == "s" for p in problems["s"])
    assert problems["other"] == []


def test_walk_yields_each_stream_once_in_order(store):
    append_three(store, "b")
    append_three(store, "a")
    walked = [(s, [e["seq"] for e in events]) for s, events in store.walk()]
    assert walked == [("a", [1, 2, 3]), ("b", [1, 2, 3])]
