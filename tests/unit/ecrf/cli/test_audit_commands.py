"""ecrf audit: verify names each tampered stream; replay rebuilds lost projections."""

import pytest


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
