"""Review and lock: every transition for every role, unlock clears the signature, locks on every write path."""

import time

import pytest
from conftest import OVERRIDDEN, PASSWORD, PEOPLE, SIGNING, login, record

TRANSITIONS = {
    "sdv": ("mon01", {}),
    "sign": ("inv01", SIGNING),
    "freeze": ("dm", OVERRIDDEN),
    "lock": ("dm", OVERRIDDEN),
}


@pytest.mark.parametrize("action", TRANSITIONS)
@pytest.mark.parametrize("name", PEOPLE)
def test_each_record_transition_is_allowed_to_its_role_only(as_user, staff, saved, action, name):
    allowed, body = TRANSITIONS[action]
    if action == "sign" and name != allowed:
        body = SIGNING
    before = record(staff, saved)
    response = as_user(name).post(staff.record_path(saved, "SCREEN", "VS") + f"/{action}", body)
    after = record(staff, saved)
    if name == allowed:
        assert response.status_code in (200, 201), response.get_json()
        assert after["version"] == before["version"] + 1
        expected = {"sdv": "verified", "sign": "signed", "freeze": "frozen", "lock": "locked"}[action]
        assert after["lifecycle"] == expected
        audit = staff.get(staff.record_path(saved, "SCREEN", "VS") + "/audit").get_json()
        assert audit[-1]["action"] == action and audit[-1]["actor"] == name
    else:
        assert response.status_code in (403, 404), (name, response.status_code)
        assert after == before


@pytest.mark.parametrize("name", PEOPLE)
def test_unlock_and_unfreeze_are_for_data_managers_only(as_user, staff, saved, name):
    path = staff.record_path(saved, "SCREEN", "VS")
    dm = as_user("dm")
    for on, off, body in (("lock", "unlock", {"reason": "correction"}), ("freeze", "unfreeze", {})):
        dm.post(path + f"/{on}", {})
        before = record(staff, saved)
        response = as_user(name).post(path + f"/{off}", body)
        if name == "dm":
            assert response.status_code == 200 and record(staff, saved)["lifecycle"] == "complete"
        else:
            assert response.status_code in (403, 404) and record(staff, saved) == before
            dm.post(path + f"/{off}", body)


def test_unlock_needs_a_reason_returns_the_prior_state_and_clears_the_signature(as_user, staff, saved):
    path = staff.record_path(saved, "SCREEN", "VS")
    as_user("mon01").post(path + "/sdv", {})
    as_user("inv01").post(path + "/sign", SIGNING)
    dm = as_user("dm")
    dm.post(path + "/lock", OVERRIDDEN)
    assert record(staff, saved)["lifecycle"] == "locked"
    no_reason = dm.post(path + "/unlock", {})
    assert no_reason.status_code == 422 and no_reason.get_json()["errors"][0]["path"] == "/reason"
    assert dm.post(path + "/unlock", {"reason": "late lab correction"}).status_code == 200
    after = record(staff, saved)
    assert after["lifecycle"] == "verified" and after["signature"] is None and after["sdv"]["by"] == "mon01"
    assert staff.get(path + "/audit").get_json()[-1]["reason"] == "late lab correction"


def test_a_change_after_verification_and_signature_clears_both_and_voids_the_signature(as_user, staff, saved):
    path = staff.record_path(saved, "SCREEN", "VS")
    as_user("mon01").post(path + "/sdv", {})
    signed = as_user("inv01").post(path + "/sign", SIGNING)
    assert signed.status_code == 201
    manifest = signed.get_json()
    assert manifest["printed_name"] == "Inv01" and manifest["meaning"].startswith("I attest")
    assert manifest["at"].endswith("Z") and manifest["at_site"].endswith("+08:00")  # site 01: Asia/Shanghai
    assert manifest["valid"] is True
    version = record(staff, saved)["version"]
    staff.save(saved, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 71}, version=version,
               reason="scale error")
    after = record(staff, saved)
    assert after["sdv"] is None and after["signature"] is None and after["lifecycle"] == "complete"
    signatures = as_user("inv01").get(f"/studies/MINI/subjects/{saved}/signatures").get_json()
    assert [s["valid"] for s in signatures] == [False]


def test_freeze_stops_data_changes_but_not_queries(as_user, staff, saved):
    path = staff.record_path(saved, "SCREEN", "VS")
    as_user("dm").post(path + "/freeze", OVERRIDDEN)
    assert staff.save(saved, "SCREEN", "VS", {"WEIGHT": 80}, version=2, reason="x").status_code == 423
    raised = as_user("mon01").post("/studies/MINI/queries", {"subject": saved, "event": "SCREEN", "form": "VS",
                                                             "item": "/WEIGHT", "text": "source?"})
    assert raised.status_code == 201
    assert staff.post(f"/studies/MINI/queries/{raised.get_json()['id']}/replies", {"text": "ok"}).status_code == 200
    as_user("dm").post(path + "/unfreeze", {})
    version = record(staff, saved)["version"]
    assert staff.save(saved, "SCREEN", "VS", {"WEIGHT": 80}, version=version, reason="x").status_code == 200


def test_subject_lock_refuses_new_records_too_and_unlocks_in_bulk(as_user, staff, saved):
    dm = as_user("dm")
    locked = dm.post(f"/studies/MINI/subjects/{saved}/lock", OVERRIDDEN)
    assert locked.get_json() == {"action": "lock", "records": 2}
    assert staff.save(saved, "SCREEN", "LB", {"ALT": 20}).status_code == 423
    assert record(staff, saved, "DM")["lifecycle"] == "locked"
    other = staff.register()
    assert staff.save(other, "SCREEN", "LB", {"ALT": 20}).status_code == 201
    assert dm.post(f"/studies/MINI/subjects/{saved}/unlock", {"reason": "query resolution"}).get_json()["records"] == 2
    assert staff.save(saved, "SCREEN", "LB", {"ALT": 20}).status_code == 201


def test_study_lock_and_unlock_of_the_whole_study(app, as_user, staff, saved):
    second = as_user("staff02").register("02")
    as_user("staff02").save(second, "SCREEN", "VS", {"WEIGHT": 60})
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["lock", "study", "MINI", "--as", "dm"])
    assert refused.exit_code == 1 and "obstacle(s) stand against lock" in refused.output
    assert "not_verified: 01-001 SCREEN VS" in refused.output and "/override_reason" in refused.output
    result = runner.invoke(args=["lock", "study", "MINI", "--as", "dm", "--override-reason", "sponsor's cut-off"])
    assert result.exit_code == 0 and "3 record(s) locked" in result.output
    assert staff.save(saved, "SCREEN", "VS", {"WEIGHT": 1}, version=2, reason="x").status_code == 423
    assert as_user("staff02").save(second, "SCREEN", "DM", {"SEX": "M"}).status_code == 423
    refused = runner.invoke(args=["lock", "study", "MINI", "--unlock", "--as", "dm"])
    assert refused.exit_code == 1 and "/reason" in refused.output
    result = runner.invoke(args=["lock", "study", "MINI", "--unlock", "--reason", "post-lock query", "--as", "dm"])
    assert result.exit_code == 0 and "3 record(s) unlocked" in result.output
    assert as_user("staff02").save(second, "SCREEN", "DM", {"SEX": "M"}).status_code == 201


def test_checks_rerun_leaves_locked_records_alone(app, as_user, staff, saved):
    as_user("dm").post(staff.record_path(saved, "SCREEN", "VS") + "/lock", OVERRIDDEN)
    before = record(staff, saved)
    result = app.test_cli_runner().invoke(args=["checks", "run"])
    assert "1 locked" in result.output
    assert record(staff, saved) == before


# Every write endpoint, classified. A new write endpoint fails this test until it is added here,
# so nothing can slip past the lock.
WRITE_ENDPOINTS = {
    "api.write_record": "record-data", "api.record_sdv": "record-review", "api.record_sign": "record-review",
    "api.event_sign": "record-review", "api.subject_sign": "record-review",
    "api.record_lock": "lock-control", "api.record_unlock": "lock-control", "api.record_freeze": "lock-control",
    "api.record_unfreeze": "lock-control", "api.subject_lock": "lock-control", "api.subject_unlock": "lock-control",
    "api.subject_freeze": "lock-control", "api.subject_unfreeze": "lock-control", "api.study_lock": "lock-control",
    "api.study_unlock": "lock-control", "api.study_freeze": "lock-control", "api.study_unfreeze": "lock-control",
    "api.create_query": "query", "api.query_reply": "query", "api.query_close": "query", "api.query_reopen": "query",
    "api.queries_bulk": "query", "queries.bulk": "query",  # each query through its own transition, as above
    "api.create_subject": "subject", "records.page": "record-data", "records.act": "record-review",
    "queries.raise_query": "query", "queries.act": "query", "records.query": "query", "subjects.index": "subject",
    "auth.login": "account", "auth.logout": "account", "auth.password": "account",
    "ranges.index": "ranges", "ranges.retire": "ranges",
    "admin.sites": "admin", "users.index": "admin", "users.act": "admin",
    **{route: "admin" for route in ("api.create_user", "api.user_role", "api.user_disable", "api.user_enable",
                                    "api.user_reset_password", "api.user_unlock", "api.user_revoke_tokens",
                                    "api.user_sign_out")},
    "exports.index": "export",
    "signoff.casebook": "record-review", "signoff.database_lock": "lock-control",
    # Imports write through save_record: a locked or frozen record refuses its row (test_import_batch.py).
    "api.start_import_job": "import", "imports.index": "import", "imports.confirm": "import",
    # SAE reports stay open under every lock (expedited reporting is a legal duty: test_lock_scope.py).
    "api.sae_update": "safety", "api.sae_submit": "safety", "api.sae_acknowledge": "safety",
    "api.sae_followup": "safety", "api.sae_close": "safety", "sae.page": "safety", "sae.act": "safety",
    # A user's own inbox and preferences are not study data.
    "api.notifications_read": "account", "api.set_notification_preferences": "account",
    "notifications.read": "account", "notifications.preferences": "account",
    # Coding is review: refused under a lock like a query (tests/unit/ecrf/coding/test_codings.py).
    "coding.act": "query",
    # Source documents are the record's data: a lock or freeze that covers the record refuses them.
    "api.attachment_upload": "record-data", "api.attachment_remove": "record-data",
    "attachments.upload": "record-data", "attachments.remove": "record-data",
    # Amendments: a migration moves casebooks through save_record and skips locked and frozen ones.
    "studies.upload": "study", "studies.activate_version": "study", "studies.migrate": "import",
    "api.activate_study_version": "study", "api.start_study_migration": "import",
}


def test_every_write_endpoint_is_classified(app):
    writes = {rule.endpoint for rule in app.url_map.iter_rules() if rule.methods & {"POST", "PUT", "PATCH", "DELETE"}}
    assert writes == set(WRITE_ENDPOINTS), (writes ^ set(WRITE_ENDPOINTS))


def test_a_locked_record_refuses_every_write_that_touches_it(as_user, staff, saved):
    path = staff.record_path(saved, "SCREEN", "VS")
    monitor, inv, dm = as_user("mon01"), as_user("inv01"), as_user("dm")
    qid = monitor.post("/studies/MINI/queries", {"subject": saved, "event": "SCREEN", "form": "VS",
                                                 "item": "/WEIGHT", "text": "before lock"}).get_json()["id"]
    dm.post(path + "/lock", OVERRIDDEN)
    before = record(staff, saved)
    attempts = {
        "api.write_record": staff.save(saved, "SCREEN", "VS", {"WEIGHT": 90}, version=before["version"], reason="x"),
        "api.record_sdv": monitor.post(path + "/sdv", {}),
        "api.record_sign": inv.post(path + "/sign", SIGNING),
        "api.event_sign": inv.post(f"/studies/MINI/subjects/{saved}/events/SCREEN/sign", SIGNING),
        "api.subject_sign": inv.post(f"/studies/MINI/subjects/{saved}/sign", SIGNING),
        "api.record_freeze": dm.post(path + "/freeze", OVERRIDDEN),
        "api.create_query": monitor.post("/studies/MINI/queries", {"subject": saved, "event": "SCREEN", "form": "VS",
                                                                   "item": "/WEIGHT", "text": "x"}),
        "api.query_reply": staff.post(f"/studies/MINI/queries/{qid}/replies", {"text": "x"}),
        "api.query_close": monitor.post(f"/studies/MINI/queries/{qid}/close", {}),
    }
    for endpoint, response in attempts.items():
        assert response.status_code == 423, (endpoint, response.status_code, response.get_json())
    assert record(staff, saved) == before


def test_idle_sessions_time_out(app, client):
    app.config["PERMANENT_SESSION_LIFETIME"] = 1
    login(client, "staff01")
    assert client.get("/studies/MINI/subjects").status_code == 200
    time.sleep(2.1)
    assert client.get("/studies/MINI/subjects").status_code == 302


def test_password_policy_and_history(app):
    with app.app_context():
        from ecrf.errors import Invalid
        from ecrf.users import change_password, get_user

        user = get_user("staff01")
        with pytest.raises(Invalid, match="password refused"):
            change_password(user, PASSWORD, PASSWORD, min_length=8)
        with pytest.raises(Invalid):
            change_password(user, PASSWORD, "short", min_length=8)
        with pytest.raises(Invalid):
            change_password(user, PASSWORD, "my staff01 secret", min_length=8)
        change_password(user, PASSWORD, "first new secret", min_length=8)
        change_password(get_user("staff01"), "first new secret", "second new secret", min_length=8)
        with pytest.raises(Invalid, match="password refused"):
            change_password(get_user("staff01"), "second new secret", PASSWORD, min_length=8)


def test_disabled_users_are_kept_not_deleted(app, as_user):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "disable", "staff01"]).exit_code == 0
    assert as_user("staff01").get("/studies").status_code == 401
    with app.app_context():
        from ecrf.users import User
        assert User.objects(username="staff01").first().active is False
