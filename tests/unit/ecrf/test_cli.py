"""The ecrf command line: study check/load, users, sites, tokens, audit verify and replay."""

import json
import shutil

import pytest
from conftest import MINI_STUDY


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args, **kw: runner.invoke(args=list(args), **kw)


def test_study_check_passes_a_valid_study(cli):
    result = cli("study", "check", str(MINI_STUDY))
    assert result.exit_code == 0 and "MINI" in result.output and "ok" in result.output


def test_study_check_prints_file_pointer_message_and_exits_1(cli, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(MINI_STUDY, broken)
    vs = broken / "screening" / "VS.json"
    document = json.loads(vs.read_text())
    document["required"] = ["NOPE"]
    vs.write_text(json.dumps(document))
    result = cli("study", "check", str(broken))
    assert result.exit_code == 1
    assert "screening/VS.json: /required/0: required names unknown item 'NOPE'" in result.output


def test_study_load_is_idempotent_and_a_new_version_becomes_current(app, cli, tmp_path):
    assert "already loaded" in cli("study", "load", str(MINI_STUDY)).output
    newer = tmp_path / "newer"
    shutil.copytree(MINI_STUDY, newer)
    study = json.loads((newer / "study.json").read_text())
    study["version"] = "2"
    (newer / "study.json").write_text(json.dumps(study))
    result = cli("study", "load", str(newer))
    assert result.exit_code == 0 and "version 2 loaded" in result.output
    with app.app_context():
        from ecrf.studies import Study, study_runtime
        assert study_runtime("MINI").version == "2"
        assert Study.objects(oid="MINI").count() == 2


def test_sites_add_and_refusals(cli):
    assert cli("sites", "add", "03", "--name", "Third", "--timezone", "Asia/Shanghai").exit_code == 0
    duplicate = cli("sites", "add", "03", "--name", "Again")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    bad_zone = cli("sites", "add", "04", "--name", "X", "--timezone", "Mars/Olympus")
    assert bad_zone.exit_code == 1 and "/timezone" in bad_zone.output


def test_users_add_with_password_from_stdin_then_token(app, cli):
    result = cli("users", "add", "newbie", "--role", "monitor", "--site", "01", "--password-stdin",
                 input="a long enough secret\n")
    assert result.exit_code == 0, result.output
    token = cli("users", "token", "newbie").output.strip()
    assert token.startswith("ecrf_")
    assert app.test_client().get("/api/v1/studies", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("args, message", [
    (["users", "add", "x1", "--role", "wizard", "--site", "01"], "unknown role 'wizard'"),
    (["users", "add", "x2", "--role", "monitor", "--site", "77"], "unknown site '77'"),
    (["users", "add", "x3", "--role", "monitor"], "needs at least one site"),
    (["users", "add", "staff01", "--role", "monitor", "--site", "01"], "already exists"),
    (["users", "token", "ghost"], "unknown user"),
])
def test_users_add_refuses_bad_input_and_stores_nothing(app, cli, args, message):
    result = cli(*args)
    assert result.exit_code == 1 and message in result.output
    with app.app_context():
        from ecrf.users import User
        assert User.objects(username__in=["x1", "x2", "x3"]).count() == 0


def test_weak_password_is_refused(cli):
    result = cli("users", "add", "weakling", "--role", "monitor", "--site", "01", "--password-stdin",
                 input="weakling1\n")
    assert result.exit_code == 1 and "must not contain the username" in result.output


def saved_records(as_user):
    staff = as_user("staff01")
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="fix")
    staff.save(subject, "SCREEN", "DM", {"SEX": "M"})
    return subject


def test_audit_verify_passes_on_untouched_data(cli, as_user):
    saved_records(as_user)
    result = cli("audit", "verify")
    assert result.exit_code == 0 and "all streams hold" in result.output


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "forge", "forge_unhashed", "projection"])
def test_audit_verify_names_the_stream_that_was_tampered_with(app, cli, as_user, tamper):
    subject = saved_records(as_user)
    stream = f"record/MINI/{subject}/SCREEN/VS"
    with app.app_context():
        from ecrf.db import database
        db = database()
        if tamper == "edit":
            db.audit_events.update_one({"stream": stream, "seq": 1}, {"$set": {"changes.0.new": 700}})
        elif tamper == "delete":
            db.audit_events.delete_one({"stream": stream, "seq": 1})
        elif tamper == "reorder":
            first = db.audit_events.find_one({"stream": stream, "seq": 1})
            second = db.audit_events.find_one({"stream": stream, "seq": 2})
            db.audit_events.update_one({"_id": first["_id"]}, {"$set": {"seq": -1}})
            db.audit_events.update_one({"_id": second["_id"]}, {"$set": {"seq": 1}})
            db.audit_events.update_one({"_id": first["_id"]}, {"$set": {"seq": 2}})
        elif tamper in ("forge", "forge_unhashed"):
            from audit import event_hash
            head = db.audit_events.find_one({"stream": stream}, sort=[("seq", -1)])
            forged = {k: v for k, v in head.items() if k not in ("_id", "hash")}
            forged.update(seq=head["seq"] + 1, prev=head["hash"], actor="mallory",
                          changes=[{"path": "/WEIGHT", "old": 71, "new": 55}])
            forged["hash"] = event_hash(forged) if tamper == "forge" else "0" * 64
            db.audit_events.insert_one(forged)
        else:
            db.records.update_one({"_id": stream}, {"$set": {"data.WEIGHT": 1}})
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert stream in result.output
    assert f"record/MINI/{subject}/SCREEN/DM" not in result.output


def test_audit_replay_rebuilds_lost_projections_exactly(app, cli, as_user):
    subject = saved_records(as_user)
    staff = as_user("staff01")
    before = staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()
    with app.app_context():
        from ecrf.db import database
        database().records.delete_many({})
    assert cli("audit", "verify").exit_code == 1
    result = cli("audit", "replay")
    assert result.exit_code == 0 and "2 record(s) rebuilt" in result.output
    assert cli("audit", "verify").exit_code == 0
    assert staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json() == before
