"""ecrf.projections through verify_all: every projection collection is compared with the stream it comes from."""

import pytest
from conftest import counting_calls
from tampering import TAMPERINGS, realistic_history, verify

import ecrf.keyed_cursor
import ecrf.projections


@pytest.fixture
def history(app):
    return app, realistic_history(app)


def test_a_realistic_history_verifies_clean(history):
    app, _ = history
    assert verify(app) == []


@pytest.mark.parametrize("tampering", TAMPERINGS, ids=lambda t: t.name)
def test_verify_names_each_direct_edit_of_a_projection_or_stream(history, tampering):
    app, ids = history
    with app.app_context():
        from ecrf.db import database

        tampering.edit(database(), ids)
    problems = verify(app)
    named = tampering.stream(ids)
    assert any(str(p).startswith(f"{named}: {tampering.says(ids)}") for p in problems), problems
    assert {p.stream for p in problems} == {named}


PROJECTIONS = ("records", "subjects", "queries", "users", "api_tokens", "sites", "lab_ranges", "signatures",
               "container_locks", "studies", "site_versions")


def test_verify_reads_each_projection_collection_once_and_looks_nothing_up(history, monkeypatch):
    app, _ = history
    finds, lookups = counting_calls(monkeypatch, "find"), counting_calls(monkeypatch, "find_one")
    assert verify(app) == []
    assert sorted(name for name in finds if name in PROJECTIONS) == sorted(PROJECTIONS)
    assert finds.count("audit_events") == 1 and lookups == []


@pytest.mark.parametrize("tampering", [None, *(t for t in TAMPERINGS if t.name in (
    "subject deleted from subjects", "whole subject stream deleted, its document kept", "lab range deleted",
    "API token inserted"))], ids=lambda t: t.name if t else "untouched")
def test_a_server_that_sorts_projections_otherwise_costs_lookups_not_answers(history, monkeypatch, tampering):
    app, ids = history
    with app.app_context():
        from ecrf.db import database

        if tampering:
            tampering.edit(database(), ids)
    expected = sorted(map(str, verify(app)))
    original = ecrf.keyed_cursor.KeyedCursor.__init__

    def reversed_order(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.cursor = iter(list(self.cursor)[::-1])

    monkeypatch.setattr(ecrf.keyed_cursor.KeyedCursor, "__init__", reversed_order)
    assert sorted(map(str, verify(app))) == expected
    assert bool(expected) == (tampering is not None)


def test_audit_verify_prints_each_projection_problem_and_exits_1(history):
    app, ids = history
    with app.app_context():
        from ecrf.db import database

        database().subjects.update_one({"subject_id": ids["s1"]}, {"$set": {"site": "02"}})
        database().queries.update_one({"_id": ids["open"]}, {"$set": {"state": "closed"}})
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"subject/MINI/{ids['s1']}: field 'site' is '02' in subjects, '01' in the stream" in result.output
    assert f"query/{ids['open']}: field 'state' is 'closed' in queries, 'open' in the stream" in result.output


def test_locks_on_a_subjects_stream_do_not_put_its_document_behind(history):
    app, ids = history
    with app.app_context():
        from ecrf.db import database

        document = database().subjects.find_one({"subject_id": ids["s2"]})
        head = database().audit_events.find_one({"stream": f"subject/MINI/{ids['s2']}"}, sort=[("seq", -1)])
    assert head["action"] == "lock" and document["version"] == head["seq"] - 1
    assert verify(app) == []


def test_a_subject_rebuilt_from_its_stream_is_what_verify_expects(history, as_user):
    app, ids = history
    with app.app_context():
        from ecrf.db import database

        stored = database().subjects.find_one({"subject_id": ids["s2"]})
        database().subjects.delete_one({"_id": stored["_id"]})
    assert [str(p) for p in verify(app)] == [f"subject/MINI/{ids['s2']}: stream has no projection in subjects"]
    assert as_user("staff01").get(f"/studies/MINI/subjects/{ids['s2']}").status_code == 200  # rebuilt on read
    with app.app_context():
        from ecrf.db import database

        assert database().subjects.find_one({"_id": stored["_id"]}) == stored
    assert verify(app) == []


def test_documents_from_before_subject_heads_and_last_logins_verify_clean(history):
    app, ids = history
    with app.app_context():
        from ecrf.db import database

        database().subjects.update_many({}, {"$unset": {"version": "", "head": ""}})
        database().users.update_many({}, {"$unset": {"last_login": ""}})
    assert verify(app) == []


def test_a_deleted_signatures_document_is_named_repairable_and_reading_the_signatures_repairs_it(history, as_user):
    app, ids = history
    stream = f"signature/MINI/{ids['s1']}/{ids['casebook_signature']}"
    with app.app_context():
        from ecrf.db import database

        stored = database().signatures.find_one({"_id": ids["casebook_signature"]})
        database().signatures.delete_one({"_id": stored["_id"]})
    assert [str(p) for p in verify(app)] == [f"{stream}: stream has no projection in signatures (repairable: "
                                             "brought back from the stream when the signatures are read)"]
    assert as_user("inv01").get(f"/studies/MINI/subjects/{ids['s1']}/signatures").status_code == 200
    with app.app_context():
        from ecrf.db import database

        assert database().signatures.find_one({"_id": stored["_id"]}) == stored
    assert verify(app) == []


def test_a_sign_event_whose_digest_is_not_that_of_its_covers_is_named_on_its_stream(history):
    app, ids = history
    stream = f"signature/MINI/{ids['s2']}/{ids['visit_signature']}"
    with app.app_context():
        from ecrf.db import database

        database().audit_events.update_one({"stream": stream}, {"$set": {"state.signature.digest": "0" * 64}})
    problems = [str(p) for p in verify(app)]
    assert f"{stream}: the sign event's digest is not the SHA-256 of its covers" in problems
    assert f"{stream}: field 'digest' is " in "".join(problems)  # the untouched document no longer matches it
    assert {p.split(": ")[0] for p in problems} == {stream}


def to_legacy(app, ids) -> None:
    """Make every signature look made before signature streams: no stream, judged by the records' sign stamps."""
    with app.app_context():
        from ecrf.db import database

        streams = set(database().audit_events.distinct("stream", {"stream": {"$regex": "^signature/"}}))
        database().audit_events.delete_many({"stream": {"$regex": "^signature/"}})
        database().signatures.update_many({}, {"$unset": {"stream": "", "covers": "", "digest": ""}})
    return streams


def legacy_problems(app, deleted: set[str]) -> list:
    """What verify says of a database made legacy by :func:`to_legacy`, less the deletions the checkpoints saw.

    The checkpoint file of this test's database saw the signature streams that ``to_legacy`` deleted and
    rightly names each; a database from before signature streams has no such checkpoint lines.
    """
    problems = verify(app)
    seen = {p.stream for p in problems if p.message.startswith("stream deleted: a checkpoint saw it")}
    assert seen == deleted
    return [p for p in problems if p.stream not in deleted]


def test_signatures_from_before_signature_streams_verify_clean_by_their_record_stamps(history):
    app, ids = history
    deleted = to_legacy(app, ids)
    assert legacy_problems(app, deleted) == []


@pytest.mark.parametrize("edit, says", [
    ({"$set": {"meaning": "Seen"}}, "field 'meaning' is 'Seen' in signatures, 'I approve' in the stream"),
    ({"$set": {"signer": "inv02"}}, "field 'signer' is 'inv02' in signatures, 'inv01' in the stream"),
], ids=["meaning", "signer"])
def test_an_edited_signature_from_before_signature_streams_is_named_by_its_record_stamps(history, edit, says):
    app, ids = history
    deleted = to_legacy(app, ids)
    with app.app_context():
        from ecrf.db import database

        database().signatures.update_one({"_id": ids["record_signature"]}, edit)
    assert [str(p) for p in legacy_problems(app, deleted)] == [f"signature/{ids['record_signature']}: {says}"]


def test_a_sign_event_copied_onto_a_second_signature_stream_is_named_there(history):
    app, ids = history
    stream = f"signature/MINI/{ids['s1']}/{ids['record_signature']}"
    copy = f"signature/MINI/{ids['s1']}/~copy"  # sorts after every ObjectId, so the walk meets it second
    with app.app_context():
        from ecrf.db import database

        event = database().audit_events.find_one({"stream": stream})
        del event["_id"]
        database().audit_events.insert_one({**event, "stream": copy})
    problems = [str(p) for p in verify(app)]
    assert f"{copy}: signature {ids['record_signature']} is also signed on {stream}" in problems
    assert {p.split(": ")[0] for p in problems} == {copy}
