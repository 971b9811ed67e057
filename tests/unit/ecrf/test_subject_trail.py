"""The subject's audit index (ecrf.subject_trail): numbered in trail order, extended lazily, never twice."""

import datetime as dt

import pytest

from ecrf import subject_trail
from ecrf.db import database
from ecrf.subject_trail import caught_up, entry, item_prefixes, trail_index
from ecrf.trail import audit_store


def _trail_order(subject):
    events = audit_store().collection.find({"context.study": "MINI", "context.subject": subject})
    return [f"{e['stream']}#{e['seq']}" for e in sorted(events, key=lambda e: (e["at"], e["stream"], e["seq"]))]


def _numbered(subject):
    return [d["_id"] for d in sorted(trail_index().find({"subject": f"MINI/{subject}"}), key=lambda d: d["n"])], sorted(
        d["n"] for d in trail_index().find({"subject": f"MINI/{subject}"}))


def test_new_events_are_numbered_after_those_already_indexed(app, staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    with app.app_context():
        first = caught_up("MINI", subject)
        before, _ = _numbered(subject)
        assert first.n == 2 and before == _trail_order(subject)  # registration, then VS
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="fix")
    staff.save(subject, "SCREEN", "DM", {"SEX": "F"})
    with app.app_context():
        head = caught_up("MINI", subject)
        ids, numbers = _numbered(subject)
        every = _trail_order(subject)
        assert len(every) > 3 and head.n == len(every) and numbers == list(range(1, len(every) + 1))
        assert ids[:2] == before and ids == every
        assert database()["subject_trail_heads"].find_one({"_id": f"MINI/{subject}"})["n"] == len(every)
        assert caught_up("MINI", subject) == head  # nothing new: nothing written


@pytest.mark.parametrize("step", ["_not_indexed", "_last"])
def test_two_readers_extending_at_once_never_repeat_or_skip_a_number(app, staff, subject, monkeypatch, step):
    """Another reader extends the index just after this one read the events (or the last number)."""
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    with app.app_context():
        caught_up("MINI", subject)
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="fix")
    staff.save(subject, "SCREEN", "DM", {"SEX": "F"})
    real = getattr(subject_trail, step)
    raced = []

    def then_another_reader(*args):
        found = real(*args)
        if not raced:
            raced.append(True)
            monkeypatch.setattr(subject_trail, step, real)
            caught_up("MINI", subject)  # the other reader, with the same events
        return found

    monkeypatch.setattr(subject_trail, step, then_another_reader)
    with app.app_context():
        head = caught_up("MINI", subject)
        ids, numbers = _numbered(subject)
        every = _trail_order(subject)
    assert raced and head.n == len(every) > 3 and numbers == list(range(1, len(every) + 1)) and ids == every


def test_a_hint_left_behind_by_a_crash_loses_nothing(app, staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    with app.app_context():
        caught_up("MINI", subject)
        database()["subject_trail_heads"].delete_many({})  # as if the reader stopped before raising the hint
    staff.save(subject, "SCREEN", "DM", {"SEX": "F"})
    with app.app_context():
        every = _trail_order(subject)
        assert caught_up("MINI", subject).n == len(every) > 2
        ids, numbers = _numbered(subject)
        assert numbers == list(range(1, len(every) + 1)) and ids == every
        assert database()["subject_trail_heads"].find_one({"_id": f"MINI/{subject}"})["n"] == len(every)


def test_item_filters_match_an_item_and_its_rows_by_equality(app, staff, subject):
    assert item_prefixes("/AE/r1/AETERM") == ["/AE", "/AE/r1", "/AE/r1/AETERM"]
    assert item_prefixes("") == []
    at = dt.datetime(2026, 1, 1)
    update = {"_id": 1, "stream": "record/MINI/s/LOGS/AE", "seq": 2, "at": at, "actor": "u", "action": "update",
              "context": {"event": "LOGS", "form": "AE"}, "changes": [{"path": "/AE/r1/AETERM"}, {"path": "/AEYN"}]}
    query = {"_id": 2, "stream": "query/q1", "seq": 2, "at": at, "actor": "u", "action": "query_answered",
             "context": {"event": "SCREEN", "form": "VS", "item": "/HEIGHT"}, "changes": [{"path": "/messages/1"}]}
    assert entry("MINI", "s", update)["items"] == ["/AE", "/AE/r1", "/AE/r1/AETERM", "/AEYN"]
    assert entry("MINI", "s", query)["items"] == ["/HEIGHT"]  # a query's messages are not items
    staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "fever"}]})
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    with app.app_context():
        caught_up("MINI", subject)
        found = list(trail_index().find({"subject": f"MINI/{subject}", "items": "/AE"}))
        assert [d["form"] for d in found] == ["AE"] and found[0]["_id"] == f"record/MINI/{subject}/LOGS/AE#1"
