"""verify_all (ecrf.integrity) finds what the one-lookup-per-stream verification found, without the lookups."""

import pytest
from conftest import counting_calls, save_several_streams

from audit import StreamProblem, event_hash


def saved(as_user):
    """Two subjects with several record streams, corrections and repeating rows."""
    return save_several_streams(as_user("staff01"))


def reference_verify():
    """verify_all as it was: one find_one per record stream, orphans from every projection id."""
    from ecrf.records.document import FOLDED, Record
    from ecrf.trail import audit_store, read_checkpoints

    store, collection = audit_store(), Record._get_collection()
    checkpoints = read_checkpoints()
    problems, seen = [], set()
    for stream, events in store.walk():
        seen.add(stream)
        projection = collection.find_one({"_id": stream}) if stream.startswith("record/") else None
        if stream.startswith("record/") and projection is None:
            problems.append(StreamProblem(stream,
                                          "stream has no projection (repairable, nothing lost: ecrf audit replay)",
                                          "behind"))
        folded = {k: projection.get(k) for k in (*FOLDED, "version", "head") if k in projection} if projection else None
        problems += store.verify_stream(stream, events, folded, checkpoint=checkpoints.heads.pop(stream, None),
                                        sealed=checkpoints.sealed)
    problems += [StreamProblem(stream, f"stream deleted: a checkpoint saw it at seq {seq}, no event of it is left")
                 for stream, (seq, _) in sorted(checkpoints.heads.items())]
    for document in collection.find({}, {"_id": 1}):
        if document["_id"] not in seen:
            problems.append(StreamProblem(document["_id"], "projection has no audit stream (events deleted)"))
    return problems


def vs(subject):
    return f"record/MINI/{subject}/SCREEN/VS"


def edit(db, s):
    db.audit_events.update_one({"stream": vs(s), "seq": 1}, {"$set": {"changes.0.new": 700}})


def delete_middle(db, s):
    db.audit_events.delete_one({"stream": vs(s), "seq": 1})


def delete_last(db, s):
    db.audit_events.delete_one({"stream": vs(s), "seq": 2})


def break_chain(db, s):
    event = db.audit_events.find_one({"stream": vs(s), "seq": 2})
    event["prev"] = "f" * 64
    event["hash"] = event_hash(event)
    db.audit_events.replace_one({"_id": event["_id"]}, event)


def forge_appended(db, s):
    head = db.audit_events.find_one({"stream": vs(s)}, sort=[("seq", -1)])
    forged = {k: v for k, v in head.items() if k not in ("_id", "hash")}
    forged.update(seq=3, prev=head["hash"], actor="mallory", changes=[{"path": "/WEIGHT", "old": 71, "new": 55}])
    forged["hash"] = event_hash(forged)
    db.audit_events.insert_one(forged)


def projection_missing(db, s):
    db.records.delete_one({"_id": vs(s)})


def all_projections_missing(db, s):
    db.records.delete_many({})


def projection_field(db, s):
    db.records.update_one({"_id": vs(s)}, {"$set": {"data.WEIGHT": 1}})


def projection_lagging(db, s):
    db.records.update_one({"_id": vs(s)}, {"$set": {"version": 1}})


def orphans(db, s):
    db.audit_events.delete_many({"stream": vs(s)})
    db.audit_events.delete_many({"stream": f"record/MINI/{s}/LOGS/AE"})
    db.records.insert_one({"_id": "record/MINI/~last", "version": 1})
    db.records.insert_one({"_id": "record/MINI/", "version": 1})
    db.records.insert_one({"_id": 42, "version": 1})


def projection_named_after_a_subject_stream(db, s):
    db.records.insert_one({"_id": f"subject/MINI/{s}", "version": 1})


TAMPERINGS = [None, edit, delete_middle, delete_last, break_chain, forge_appended, projection_missing,
              all_projections_missing, projection_field, projection_lagging, orphans,
              projection_named_after_a_subject_stream]


def by_stream_then_orphans(problems):
    orphan = [p for p in problems if "projection has no audit stream" in p.message]
    rest = [p for p in problems if p not in orphan]
    return rest, sorted(orphan, key=lambda p: str(p.stream))


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda t: t.__name__ if t else "untouched")
def test_verify_all_finds_what_the_per_stream_lookups_found(app, as_user, tamper):
    subjects = saved(as_user)
    with app.app_context():
        from ecrf.db import database
        from ecrf.integrity import verify_all

        if tamper:
            tamper(database(), subjects[0])
        expected = reference_verify()
        found = verify_all()
    assert by_stream_then_orphans(found) == by_stream_then_orphans(expected)
    assert bool(found) == (tamper is not None and tamper is not projection_named_after_a_subject_stream)
    if tamper is not all_projections_missing:
        assert all(vs(subjects[1]) not in str(p) for p in found)


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda t: t.__name__ if t else "untouched")
def test_checking_chains_ahead_of_their_projections_changes_no_problem_nor_its_place(app, as_user, monkeypatch, tamper):
    subjects = saved(as_user)
    import ecrf.integrity

    with app.app_context():
        from ecrf.db import database

        if tamper:
            tamper(database(), subjects[0])
        held_to_the_end = ecrf.integrity.verify_all()
        monkeypatch.setattr(ecrf.integrity, "LAG", 0)  # each stream compared with its projection as soon as walked
        at_once = ecrf.integrity.verify_all()
        monkeypatch.setattr(ecrf.integrity, "LAG", 3)  # some held, some not
        partly = ecrf.integrity.verify_all()
    assert at_once == held_to_the_end == partly
    assert by_stream_then_orphans(at_once) == by_stream_then_orphans(reference_verify())


def test_orphans_come_last_in_id_order(app, as_user):
    subjects = saved(as_user)
    with app.app_context():
        from ecrf.db import database
        from ecrf.integrity import verify_all

        orphans(database(), subjects[0])
        found = verify_all()
    tail = [p.stream for p in found if "projection has no audit stream" in p.message]
    assert found[-len(tail):] == [StreamProblem(s, "projection has no audit stream (events deleted)") for s in tail]
    assert tail == [42, "record/MINI/", f"record/MINI/{subjects[0]}/LOGS/AE", vs(subjects[0]), "record/MINI/~last"]


def test_verify_reads_projections_through_one_cursor_not_one_lookup_per_stream(app, as_user, monkeypatch):
    saved(as_user)
    lookups = counting_calls(monkeypatch, "find_one")
    with app.app_context():
        from ecrf.integrity import verify_all

        streams = []
        assert verify_all(progress=streams.append) == []
    assert lookups == []
    assert streams == list(range(1, len(streams) + 1)) and len(streams) >= 8


@pytest.mark.parametrize("tamper", [None, projection_missing, orphans], ids=lambda t: t.__name__ if t else "untouched")
def test_a_server_that_sorts_ids_otherwise_costs_lookups_not_answers(app, as_user, monkeypatch, tamper):
    subjects = saved(as_user)
    import ecrf.integrity

    original = ecrf.integrity._Projections.__init__

    def reversed_order(self, collection, *args, **kwargs):
        original(self, collection, *args, **kwargs)
        self.cursor = iter(list(self.cursor)[::-1])

    with app.app_context():
        from ecrf.db import database

        if tamper:
            tamper(database(), subjects[0])
        expected = reference_verify()
        monkeypatch.setattr(ecrf.integrity._Projections, "__init__", reversed_order)
        found = ecrf.integrity.verify_all()
    assert by_stream_then_orphans(found) == by_stream_then_orphans(expected)


def test_replay_all_rebuilds_every_projection(app, as_user):
    saved(as_user)
    with app.app_context():
        from ecrf.db import database
        from ecrf.integrity import replay_all, verify_all

        before = {d["_id"]: d for d in database().records.find()}
        database().records.delete_many({})
        assert replay_all() == len(before)
        after = {d["_id"]: d for d in database().records.find()}
        assert verify_all() == []
    assert after == before
