"""Direct database (and file) edits against a keyed, checkpointed trail: ``ecrf audit verify`` names every
one, and ``ecrf audit replay`` refuses every broken stream instead of rebuilding over it.

Each tampering acts as someone with database access (or, where said, access to the checkpoint file)
but without the audit key; the application's own writes are checkpointed before it acts.
"""

import hashlib
import hmac
import json

import pytest
from conftest import save_several_streams

from audit import event_hash

ATTACKER_KEY = b"m" * 32


def vs(subject):
    return f"record/MINI/{subject}/SCREEN/VS"


def ae(subject):
    return f"record/MINI/{subject}/LOGS/AE"


def rehash_stream(db, stream, key=None, kid=None, drop_kid=False, edit=None):
    """Rewrite a whole stream with consistent hashes (plain SHA-256, or HMAC under ``key``) after ``edit``."""
    prev = "0" * 64
    for event in db.audit_events.find({"stream": stream}, sort=[("seq", 1)]):
        if edit:
            edit(event)
        if drop_kid:
            event.pop("kid", None)
        if kid:
            event["kid"] = kid
        event["prev"] = prev
        body = {k: v for k, v in event.items() if k not in ("_id", "hash")}
        event["hash"] = event_hash(body, key)
        db.audit_events.replace_one({"_id": event["_id"]}, event)
        prev = event["hash"]


def set_weight(event):
    if event["seq"] == 1:
        event["changes"][0]["new"] = 700


def edit_value_and_recompute_the_plain_chain(db, s, files):
    rehash_stream(db, vs(s), drop_kid=True, edit=set_weight)


def edit_value_and_recompute_with_a_wrong_key(db, s, files):
    rehash_stream(db, vs(s), key=ATTACKER_KEY, edit=set_weight)


def change_kid_to_the_attackers_key(db, s, files):
    rehash_stream(db, vs(s), key=ATTACKER_KEY, kid="kmallory", edit=set_weight)


def edit_value_keep_hash(db, s, files):
    db.audit_events.update_one({"stream": vs(s), "seq": 1}, {"$set": {"changes.0.new": 700}})


def delete_middle_event(db, s, files):
    db.audit_events.delete_one({"stream": vs(s), "seq": 1})


def truncate_tail(db, s, files):
    db.audit_events.delete_one({"stream": vs(s), "seq": 2})


def truncate_tail_and_roll_the_projection_back(db, s, files):
    first = db.audit_events.find_one({"stream": vs(s), "seq": 1})
    db.audit_events.delete_one({"stream": vs(s), "seq": 2})
    db.records.update_one({"_id": vs(s)}, {"$set": {"version": 1, "head": first["hash"], "data.WEIGHT": 70}})


def delete_whole_record_stream_and_its_projection(db, s, files):
    db.audit_events.delete_many({"stream": vs(s)})
    db.records.delete_one({"_id": vs(s)})


def delete_whole_subject_stream(db, s, files):
    db.audit_events.delete_many({"stream": f"subject/MINI/{s}"})


def reorder_seq(db, s, files):
    first = db.audit_events.find_one({"stream": vs(s), "seq": 1})
    second = db.audit_events.find_one({"stream": vs(s), "seq": 2})
    db.audit_events.update_one({"_id": first["_id"]}, {"$set": {"seq": -1}})
    db.audit_events.update_one({"_id": second["_id"]}, {"$set": {"seq": 1}})
    db.audit_events.update_one({"_id": first["_id"]}, {"$set": {"seq": 2}})


def duplicate_an_event(db, s, files):
    head = db.audit_events.find_one({"stream": vs(s)}, sort=[("seq", -1)])
    copy = {k: v for k, v in head.items() if k != "_id"}
    copy["seq"] += 1
    db.audit_events.insert_one(copy)


def forge_a_plain_event_after_keyed_ones(db, s, files):
    head = db.audit_events.find_one({"stream": vs(s)}, sort=[("seq", -1)])
    forged = {k: v for k, v in head.items() if k not in ("_id", "hash", "kid")}
    forged.update(seq=head["seq"] + 1, prev=head["hash"], actor="mallory",
                  changes=[{"path": "/WEIGHT", "old": 71, "new": 55}])
    forged["hash"] = event_hash(forged)
    db.audit_events.insert_one(forged)


def forge_an_event_naming_the_real_key(db, s, files):
    head = db.audit_events.find_one({"stream": vs(s)}, sort=[("seq", -1)])
    forged = {k: v for k, v in head.items() if k not in ("_id", "hash")}
    forged.update(seq=head["seq"] + 1, prev=head["hash"], actor="mallory")
    forged["hash"] = event_hash(forged, ATTACKER_KEY)
    db.audit_events.insert_one(forged)


def move_an_event_to_another_stream(db, s, files):
    db.audit_events.update_one({"stream": vs(s), "seq": 2}, {"$set": {"stream": ae(s), "seq": 3}})


def replace_a_user_stream_with_a_plain_chain(db, s, files):
    rehash_stream(db, "user/staff01", drop_kid=True,
                  edit=lambda e: e.get("state", {}).get("details", {}).update(role="data_manager"))


def edit_a_checkpoint_line(db, s, files):
    lines = files.checkpoints.read_text().splitlines()
    record = json.loads(lines[-1])
    record["heads"] = {stream: [1, head[1]] for stream, head in record["heads"].items()}  # claims shorter streams
    lines[-1] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    files.checkpoints.write_text("\n".join(lines) + "\n")


def remove_a_checkpoint_line(db, s, files):
    lines = files.checkpoints.read_text().splitlines()
    files.checkpoints.write_text("\n".join(lines[1:]) + "\n")
    truncate_tail(db, s, files)


def append_a_checkpoint_signed_with_another_key(db, s, files):
    last = json.loads(files.checkpoints.read_text().splitlines()[-1])
    from audit import canonical_json

    record = {"db": last["db"], "kind": "heads", "at": last["at"], "heads": {vs(s): [1, "f" * 64]},
              "prev": last["mac"], "kid": last["kid"]}
    record["mac"] = hmac.new(ATTACKER_KEY, canonical_json(record), hashlib.sha256).hexdigest()
    with files.checkpoints.open("a") as out:
        out.write(json.dumps(record) + "\n")


def delete_the_checkpoint_file(db, s, files):
    files.checkpoints.unlink()
    truncate_tail(db, s, files)


def replace_the_key_file(db, s, files):
    files.keys.write_text(f"kmallory {ATTACKER_KEY.hex()} 2026-01-01T00:00:00Z\n")


# Edits that break VS's chain or checkpoint: verify names VS as BROKEN, replay refuses it.
CHAIN_BROKEN = [
    edit_value_and_recompute_the_plain_chain, edit_value_and_recompute_with_a_wrong_key,
    change_kid_to_the_attackers_key, edit_value_keep_hash, delete_middle_event, truncate_tail,
    truncate_tail_and_roll_the_projection_back, delete_whole_record_stream_and_its_projection, reorder_seq,
    duplicate_an_event, forge_a_plain_event_after_keyed_ones, forge_an_event_naming_the_real_key,
    move_an_event_to_another_stream,
]
# Edits of the checkpoint file (by an OS user without the key): verify names the file, replay refuses to run.
FILES_BROKEN = [edit_a_checkpoint_line, remove_a_checkpoint_line, append_a_checkpoint_signed_with_another_key,
                delete_the_checkpoint_file]


class Files:
    def __init__(self, app):
        from ecrf.trail import checkpoint_file, key_file

        settings = app.config["ECRF"]
        self.checkpoints, self.keys = checkpoint_file(settings), key_file(settings)


@pytest.fixture
def trail(app, as_user):
    """Saved streams, every head checkpointed: ``(cli, db, subject, files)``."""
    subjects = save_several_streams(as_user("staff01"))
    runner = app.test_cli_runner()
    with app.app_context():
        from ecrf.db import database
        from ecrf.trail import flush_checkpoints

        flush_checkpoints()
        yield (lambda *args: runner.invoke(args=list(args))), database(), subjects[0], Files(app)


def test_an_untouched_keyed_trail_holds_and_replays(trail):
    cli, db, subject, files = trail
    assert db.audit_events.count_documents({"kid": {"$exists": False}}) == 0
    result = cli("audit", "verify")
    assert result.exit_code == 0 and "all streams hold" in result.stdout
    assert cli("audit", "replay").exit_code == 0


@pytest.mark.parametrize("tamper", CHAIN_BROKEN, ids=lambda t: t.__name__)
def test_verify_names_a_broken_stream_and_replay_refuses_it(trail, tamper):
    cli, db, subject, files = trail
    tamper(db, subject, files)
    projection = db.records.find_one({"_id": vs(subject)})
    verified = cli("audit", "verify")
    assert verified.exit_code == 1
    assert f"BROKEN {vs(subject)}" in verified.stdout, verified.stdout
    assert f"record/MINI/{subject}/SCREEN/DM" not in verified.stdout
    replayed = cli("audit", "replay")
    assert replayed.exit_code == 1
    assert f"REFUSED {vs(subject)}" in replayed.stdout, replayed.stdout
    assert db.records.find_one({"_id": vs(subject)}) == projection  # the evidence is left as it was
    again = cli("audit", "verify")
    assert again.exit_code == 1 and f"BROKEN {vs(subject)}" in again.stdout


def test_a_deleted_subject_stream_is_named_from_the_checkpoint(trail):
    cli, db, subject, files = trail
    delete_whole_subject_stream(db, subject, files)
    for command, label in (("verify", "BROKEN"), ("replay", "REFUSED")):
        result = cli("audit", command)
        assert result.exit_code == 1
        assert f"{label} subject/MINI/{subject}: stream deleted: a checkpoint saw it at seq" in result.stdout


def test_a_user_stream_rewritten_as_a_plain_chain_is_named(trail):
    cli, db, subject, files = trail
    replace_a_user_stream_with_a_plain_chain(db, subject, files)
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN user/staff01: event at seq 2 is not the one a checkpoint saw" in result.stdout


@pytest.mark.parametrize("tamper", FILES_BROKEN, ids=lambda t: t.__name__)
def test_a_tampered_checkpoint_file_is_named_and_replay_refuses_everything(trail, tamper):
    cli, db, subject, files = trail
    before = list(db.records.find({}, sort=[("_id", 1)]))
    tamper(db, subject, files)
    verified = cli("audit", "verify")
    assert verified.exit_code == 1 and str(files.checkpoints) in verified.stdout, verified.stdout
    replayed = cli("audit", "replay")
    assert replayed.exit_code == 1 and "REFUSED" in replayed.stdout
    assert list(db.records.find({}, sort=[("_id", 1)])) == before


def test_a_replaced_key_file_breaks_every_keyed_event(trail):
    cli, db, subject, files = trail
    replace_the_key_file(db, subject, files)
    from flask import current_app

    current_app.extensions.pop("ecrf.trail")  # as after a restart: the keys are read again
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"BROKEN {vs(subject)}: event at seq 1 names key" in result.stdout
    assert str(files.checkpoints) in result.stdout  # its lines are signed with the lost key too


def test_a_projection_edit_is_told_apart_and_replay_repairs_it(trail):
    cli, db, subject, files = trail
    db.records.update_one({"_id": vs(subject)}, {"$set": {"data.WEIGHT": 1}})
    verified = cli("audit", "verify")
    assert verified.exit_code == 1 and f"DIFFERS {vs(subject)}: projection field 'data'" in verified.stdout
    assert "BROKEN" not in verified.stdout
    assert cli("audit", "replay").exit_code == 0
    assert cli("audit", "verify").exit_code == 0


def test_a_projection_behind_its_stream_is_repairable_not_broken(trail):
    cli, db, subject, files = trail
    first = db.audit_events.find_one({"stream": vs(subject), "seq": 1})
    db.records.update_one({"_id": vs(subject)}, {"$set": {"version": 1, "head": first["hash"]}})
    verified = cli("audit", "verify")
    assert verified.exit_code == 1
    behind = f"BEHIND {vs(subject)}: projection at version 1 but stream at 2: projection behind its stream"
    assert behind in verified.stdout
    assert "repairable, nothing lost" in verified.stdout and "BROKEN" not in verified.stdout
    assert cli("audit", "replay").exit_code == 0
    assert cli("audit", "verify").exit_code == 0
