"""The keyed, checkpointed trail on a real wire-protocol server: tampering named, replay refused, seal."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Api, save_several_streams

from audit import event_hash


@pytest.fixture
def trail(wire_app):
    subjects = save_several_streams(Api(wire_app.test_client(), wire_app.tokens["staff01"]))
    runner = wire_app.test_cli_runner()
    with wire_app.app_context():
        from ecrf.db import database
        from ecrf.trail import flush_checkpoints

        flush_checkpoints()
        yield (lambda *args: runner.invoke(args=list(args))), database(), subjects[0]


def vs(subject):
    return f"record/MINI/{subject}/SCREEN/VS"


def test_a_value_rewritten_with_a_recomputed_plain_chain_is_named(trail):
    cli, db, subject = trail
    prev = "0" * 64
    for event in db.audit_events.find({"stream": vs(subject)}, sort=[("seq", 1)]):
        event.pop("kid")
        if event["seq"] == 1:
            event["changes"][0]["new"] = 700
        event["prev"] = prev
        event["hash"] = prev = event_hash(event)
        db.audit_events.replace_one({"_id": event["_id"]}, event)
    db.records.update_one({"_id": vs(subject)}, {"$set": {"head": prev}})
    result = cli("audit", "verify")
    assert result.exit_code == 1 and f"BROKEN {vs(subject)}" in result.stdout
    assert f"record/MINI/{subject}/SCREEN/DM" not in result.stdout


def test_a_truncated_tail_is_named_and_replay_refuses_to_erase_it(trail):
    cli, db, subject = trail
    first = db.audit_events.find_one({"stream": vs(subject), "seq": 1})
    db.audit_events.delete_one({"stream": vs(subject), "seq": 2})
    db.records.update_one({"_id": vs(subject)}, {"$set": {"version": 1, "head": first["hash"], "data.WEIGHT": 70}})
    replayed = cli("audit", "replay")
    assert replayed.exit_code == 1
    assert f"REFUSED {vs(subject)}: truncated: a checkpoint saw seq 2, the stream ends at 1" in replayed.stdout
    verified = cli("audit", "verify")
    assert verified.exit_code == 1 and f"BROKEN {vs(subject)}: truncated" in verified.stdout


def test_a_deleted_stream_is_named_from_the_checkpoint(trail):
    cli, db, subject = trail
    db.audit_events.delete_many({"stream": f"record/MINI/{subject}/LOGS/AE"})
    db.records.delete_one({"_id": f"record/MINI/{subject}/LOGS/AE"})
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"BROKEN record/MINI/{subject}/LOGS/AE: stream deleted: a checkpoint saw it at seq 2" in result.stdout


def test_an_edited_checkpoint_file_is_named(trail, wire_app):
    cli, db, subject = trail
    from ecrf.trail import checkpoint_file

    path = checkpoint_file(wire_app.config["ECRF"])
    path.write_text(path.read_text().replace(f'"{vs(subject)}":[2,', f'"{vs(subject)}":[1,'))
    result = cli("audit", "verify")
    assert result.exit_code == 1 and f"BROKEN {path}: line" in result.stdout and "was altered" in result.stdout


VERIFY_ELSEWHERE = """
import sys
from ecrf.app import create_app
app = create_app({"mongodb_uri": sys.argv[1], "mongodb_db": sys.argv[2], "instance_path": sys.argv[3],
                  "secret_key": "x"})
result = app.test_cli_runner().invoke(args=["audit", sys.argv[4]])
print(result.output)
sys.exit(result.exit_code)
"""


def test_another_process_with_the_instance_folder_verifies_and_without_its_key_cannot(trail, wire_app, wire_uri,
                                                                                      tmp_path):
    cli, db, subject = trail
    settings = wire_app.config["ECRF"]

    def run(instance, command="verify"):
        return subprocess.run([sys.executable, "-c", VERIFY_ELSEWHERE, wire_uri, settings.mongodb_db, str(instance),
                               command], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})

    same = run(settings.instance_path)
    assert same.returncode == 0 and "all streams hold" in same.stdout, same.stdout + same.stderr
    stranger = run(Path(tmp_path) / "elsewhere")  # a fresh instance folder: another key, no checkpoints
    assert stranger.returncode == 1 and f"BROKEN {vs(subject)}: event at seq 1 names key" in stranger.stdout
