"""ecrf audit seal (an existing database's plain chains keyed by a checkpoint) and ecrf audit rotate-key."""

import pytest
from conftest import save_several_streams

from audit import event_hash


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def as_before_keying(app, db):
    """The database as an engine before keyed chains left it: plain SHA-256 chains, no checkpoint file."""
    from ecrf.trail import checkpoint_file

    for stream in db.audit_events.distinct("stream"):
        prev = "0" * 64
        for event in db.audit_events.find({"stream": stream}, sort=[("seq", 1)]):
            event.pop("kid")
            event["prev"] = prev
            event["hash"] = event_hash(event)
            db.audit_events.replace_one({"_id": event["_id"]}, event)
            prev = event["hash"]
        db.records.update_one({"_id": stream}, {"$set": {"head": prev}})
        db.subjects.update_one({"_id": stream.removeprefix("subject/")}, {"$set": {"head": prev}})
    app.extensions.pop("ecrf.trail")  # a restart on the new engine
    checkpoint_file(app.config["ECRF"]).unlink()


@pytest.fixture
def old_database(app, as_user):
    subjects = save_several_streams(as_user("staff01"))
    with app.app_context():
        from ecrf.db import database

        db = database()
        as_before_keying(app, db)
        yield db, subjects[0]


def vs(subject):
    return f"record/MINI/{subject}/SCREEN/VS"


def rewrite_plain(db, stream, value):
    prev = "0" * 64
    for event in db.audit_events.find({"stream": stream}, sort=[("seq", 1)]):
        if event["seq"] == 1:
            event["changes"][0]["new"] = value
        event["prev"] = prev
        event["hash"] = event_hash(event)
        db.audit_events.replace_one({"_id": event["_id"]}, event)
        prev = event["hash"]
    db.records.update_one({"_id": stream}, {"$set": {"head": prev}})  # a thorough forger fixes the projection too


def test_plain_chains_verify_as_unsealed_until_sealed(cli, old_database):
    db, subject = old_database
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.stdout
    assert f"UNSEALED {vs(subject)}: 2 event(s) with plain SHA-256 hashes, not sealed yet" in result.stdout
    assert "all streams hold" in result.stdout


def test_seal_keys_an_old_database_once_and_says_who_sealed(cli, old_database):
    db, subject = old_database
    streams = len(db.audit_events.distinct("stream"))
    result = cli("audit", "seal", "--as", "dm")
    assert result.exit_code == 0, result.output
    assert f"sealed: {streams + 1} stream(s)" in result.stdout
    sealed = db.audit_events.find_one({"stream": "audit/seal"})
    assert sealed["actor"] == "dm" and sealed["action"] == "seal" and sealed["kid"]
    assert sealed["state"]["details"]["streams"] == streams
    verified = cli("audit", "verify")
    assert verified.exit_code == 0 and "UNSEALED" not in verified.stdout
    again = cli("audit", "seal")
    assert again.exit_code == 0 and "already sealed" in again.stdout
    assert db.audit_events.count_documents({"stream": "audit/seal"}) == 1


def test_a_plain_chain_recomputed_after_the_seal_is_broken(cli, old_database):
    db, subject = old_database
    rewrite_plain(db, vs(subject), 500)
    assert cli("audit", "verify").exit_code == 0  # before the seal, nobody can tell: that is what seal is for
    rewrite_plain(db, vs(subject), 70)
    assert cli("audit", "seal").exit_code == 0
    rewrite_plain(db, vs(subject), 500)
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"BROKEN {vs(subject)}: event at seq 2 is not the one a checkpoint saw" in result.stdout


def test_a_plain_event_added_after_the_seal_is_written_without_the_key(cli, old_database):
    db, subject = old_database
    assert cli("audit", "seal").exit_code == 0
    head = db.audit_events.find_one({"stream": vs(subject)}, sort=[("seq", -1)])
    forged = {k: v for k, v in head.items() if k not in ("_id", "hash")}
    forged.update(seq=3, prev=head["hash"], actor="mallory")
    forged["hash"] = event_hash(forged)
    db.audit_events.insert_one(forged)
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"BROKEN {vs(subject)}: events 3 to 3 have plain SHA-256 hashes in a sealed database" in result.stdout


def test_seal_refuses_a_broken_plain_chain_and_writes_nothing(app, cli, old_database):
    db, subject = old_database
    db.audit_events.update_one({"stream": vs(subject), "seq": 1}, {"$set": {"changes.0.new": 1}})
    from ecrf.trail import checkpoint_file

    before = checkpoint_file(app.config["ECRF"]).read_text() if checkpoint_file(app.config["ECRF"]).exists() else ""
    result = cli("audit", "seal")
    assert result.exit_code == 1 and f"BROKEN {vs(subject)}: event at seq 1 was altered" in result.stdout
    assert db.audit_events.count_documents({"stream": "audit/seal"}) == 0
    checkpoints = checkpoint_file(app.config["ECRF"])
    assert (checkpoints.read_text() if checkpoints.exists() else "") == before


def test_new_events_on_an_old_stream_are_keyed_and_cover_its_plain_past(cli, old_database, as_user):
    db, subject = old_database
    staff = as_user("staff01")
    assert staff.save(subject, "SCREEN", "VS", {"WEIGHT": 72}, version=2, reason="again").status_code == 200
    events = list(db.audit_events.find({"stream": vs(subject)}, sort=[("seq", 1)]))
    assert ["kid" in e for e in events] == [False, False, True]
    result = cli("audit", "verify")
    assert result.exit_code == 0 and f"UNSEALED {vs(subject)}" not in result.stdout


def test_a_rotated_key_signs_new_events_and_old_ones_still_verify(app, cli, as_user):
    staff = as_user("staff01")
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    with app.app_context():
        from ecrf.db import database
        from ecrf.trail import key_file

        db = database()
        old_kid = db.audit_events.find_one({"stream": vs(subject)})["kid"]
        result = cli("audit", "rotate-key", "--as", "root")
        assert result.exit_code == 0, result.output
        staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="rotated")
        kids = [e["kid"] for e in db.audit_events.find({"stream": vs(subject)}, sort=[("seq", 1)])]
        assert kids[0] == old_kid and kids[1] != old_kid and kids[1] in result.stdout
        rotation = db.audit_events.find_one({"stream": "audit/keys"})
        assert rotation["state"]["details"] == {"old": old_kid, "new": kids[1]} and rotation["actor"] == "root"
        assert [line.split()[0] for line in key_file(app.config["ECRF"]).read_text().splitlines()] == [old_kid, kids[1]]
        app.extensions.pop("ecrf.trail")  # another process: reads both keys from the file
        assert cli("audit", "verify").exit_code == 0


def test_a_key_from_the_environment_signs_and_verifies(tmp_path, monkeypatch):
    from conftest import Api, make_app

    monkeypatch.setenv("ECRF_AUDIT_KEY", "old-secret-of-32-characters-long!,new-secret-of-32-characters-long!")
    app = make_app(tmp_path, "mongomock://")
    staff = Api(app.test_client(), app.tokens["staff01"])
    subject = staff.register()
    with app.app_context():
        from audit.keys import key_id
        from ecrf.db import database
        from ecrf.trail import key_file

        event = database().audit_events.find_one({"stream": f"subject/MINI/{subject}"})
        assert event["kid"] == key_id(b"new-secret-of-32-characters-long!")
        assert not key_file(app.config["ECRF"]).exists()
        assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0
        refused = app.test_cli_runner().invoke(args=["audit", "rotate-key"])
        assert refused.exit_code == 1 and "ECRF_AUDIT_KEY" in refused.output
