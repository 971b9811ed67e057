"""The amendment scenario end to end on the real wire server, through the API and the command line.

Version 2.0.0 removes APHAE and adds the required APHNEW (tests/amendment.py). Before, a data manager
loading it made existing records unsaveable (422 "unknown item 'APHAE'"), moved every site at once and
left records "complete" with APHNEW missing.
"""

import threading

import pytest
from conftest import BUNDLED_STUDY, Api, make_app

from tests.amendment import make_v2

APH = {"APHDTC": "2026-01-05", "APHVOL": 10, "APHCD3": 100, "APHAE": True}


@pytest.fixture
def trial(tmp_path, wire_uri):
    app = make_app(tmp_path, wire_uri, study=BUNDLED_STUDY)
    client = app.test_client()
    people = {name: Api(client, app.tokens[name], "CD7_CART_SAA") for name in ("staff01", "staff02", "dm")}
    return app, app.test_cli_runner(), people


def _subject(api: Api, subject: str) -> dict:
    return api.get(f"/studies/CD7_CART_SAA/subjects/{subject}").get_json()


def test_the_amendment_scenario_through_the_api_and_the_command_line(trial, tmp_path):
    app, runner, people = trial
    staff01, staff02 = people["staff01"], people["staff02"]
    old01, old02 = staff01.register("01"), staff02.register("02")
    assert staff01.save(old01, "APH", "APH", APH).status_code == 201
    assert staff02.save(old02, "APH", "APH", APH).status_code == 201
    v1_hash = _subject(staff01, old01)["study_version"]

    loaded = runner.invoke(args=["study", "load", str(make_v2(tmp_path / "v2"))])
    assert loaded.exit_code == 0, loaded.output
    # Loading moves no one: the record is saved as it stands, on its own version.
    record = staff01.get(staff01.record_path(old01, "APH", "APH")).get_json()
    resaved = staff01.save(old01, "APH", "APH", {**record["data"], "APHVOL": 11}, record["version"], "typo")
    assert resaved.status_code == 200, resaved.get_json()

    activated = runner.invoke(args=["study", "activate", "2.0.0", "--site", "01", "--approved", "2026-01-02",
                                    "--as", "dm"])
    assert activated.exit_code == 0, activated.output
    new01, new02 = staff01.register("01"), staff02.register("02")
    assert _subject(staff01, new01)["study_version"] != v1_hash
    assert _subject(staff02, new02)["study_version"] == v1_hash  # no approval at site 02: still version 1

    with app.app_context():
        from ecrf.db import database

        events_before = database().audit_events.count_documents({})
        dry = runner.invoke(args=["study", "migrate", "--to", "2.0.0", "--site", "01", "--dry-run", "--as", "dm"])
        assert database().audit_events.count_documents({}) == events_before
    assert dry.exit_code == 0, dry.output
    assert "APH/APH: migrate; retired APHAE; added APHNEW; now required and empty /APHNEW" in dry.output

    report = tmp_path / "report.json"
    done = runner.invoke(args=["study", "migrate", "--to", "2.0.0", "--site", "01", "--reason", "Amendment 2",
                               "--report", str(report), "--as", "dm"])
    assert done.exit_code == 0, done.output
    assert '"migrated": 1' in report.read_text(encoding="utf-8")
    record = staff01.get(staff01.record_path(old01, "APH", "APH")).get_json()
    assert record["retired"] == {"APHAE": True} and "APHAE" not in record["data"]
    assert record["status"] == "incomplete" and record["missing"] == ["/APHNEW"]
    # A client sending back the retired value as it read it is not refused for it.
    completed = staff01.save(old01, "APH", "APH", {**record["data"], "APHAE": True, "APHNEW": "left arm"},
                             record["version"])
    assert completed.status_code == 200, completed.get_json()
    assert completed.get_json()["status"] == "complete"
    changed = staff01.save(old01, "APH", "APH", {"APHAE": False}, completed.get_json()["version"], "x")
    assert changed.status_code == 422 and changed.get_json()["errors"][0]["path"] == "/APHAE"

    # Site 02 is untouched: its casebook stays on version 1, where APHAE is an item.
    assert _subject(staff02, old02)["study_version"] == v1_hash
    other = staff02.get(staff02.record_path(old02, "APH", "APH")).get_json()
    assert other["data"]["APHAE"] is True and other["retired"] == {}

    again = runner.invoke(args=["study", "migrate", "--to", "2.0.0", "--site", "01", "--reason", "Amendment 2",
                                "--as", "dm"])
    assert again.exit_code == 0 and again.output.strip().endswith("2 unchanged"), again.output
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output


def _finished(api: Api, started) -> dict:
    """The migration job once its background thread is done (joined: no polling against the clock)."""
    assert started.status_code == 202, started.get_json()
    for thread in threading.enumerate():
        if thread.name == f"migrate-{started.get_json()['id']}":
            thread.join()
    job = api.client.get(started.headers["Location"], headers=api.headers()).get_json()
    assert job["state"] == "done", job
    return job


def test_the_amendment_scenario_through_the_api(trial, tmp_path):
    app, runner, people = trial
    staff01, staff02, dm = people["staff01"], people["staff02"], people["dm"]
    old01, old02 = staff01.register("01"), staff02.register("02")
    assert staff01.save(old01, "APH", "APH", APH).status_code == 201
    assert staff02.save(old02, "APH", "APH", APH).status_code == 201
    v1_hash = _subject(staff01, old01)["study_version"]
    assert runner.invoke(args=["study", "load", str(make_v2(tmp_path / "v2"))]).exit_code == 0

    versions = dm.get("/studies/CD7_CART_SAA/versions")
    assert versions.status_code == 200, versions.get_json()
    shown = versions.get_json()
    assert [v["version"] for v in shown["versions"]] == ["1.0.0", "2.0.0"] and shown["current"] == "2.0.0"
    assert {s["site"]: (s["version"], s["approved"], s["carried"]) for s in shown["sites"]} == {
        "01": ("1.0.0", None, True), "02": ("1.0.0", None, True)}
    assert staff01.get("/studies/CD7_CART_SAA/versions").status_code == 403

    activate = "/studies/CD7_CART_SAA/versions/{}/activate"
    refused = {
        ("2.0.0", "/approved"): dm.post(activate.format("2.0.0"), {"site": "01", "approved": "2999-01-01"}),
        ("2.0.0", "/site"): dm.post(activate.format("2.0.0"), {"site": "99", "approved": "2026-01-02"}),
        ("9.9.9", "/version"): dm.post(activate.format("9.9.9"), {"site": "01", "approved": "2026-01-02"}),
        ("2.0.0", "/approved "): dm.post(activate.format("2.0.0"), {"site": "01"}),
    }
    for (_, pointer), response in refused.items():
        assert 400 <= response.status_code < 500, response.get_json()
        assert pointer.strip() in [e["path"] for e in response.get_json()["errors"]], response.get_json()
    assert staff01.post(activate.format("2.0.0"), {"site": "01", "approved": "2026-01-02"}).status_code == 403
    done = dm.post(activate.format("2.0.0"), {"site": "01", "approved": "2026-01-02"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["version"] == "2.0.0" and done.get_json()["approved"] == "2026-01-02"
    sites = {s["site"]: s for s in dm.get("/studies/CD7_CART_SAA/versions").get_json()["sites"]}
    assert sites["01"]["approved"] == "2026-01-02" and sites["01"]["activated_by"] == "dm"
    assert sites["02"]["version"] == "1.0.0"
    new01, new02 = staff01.register("01"), staff02.register("02")
    assert _subject(staff01, new01)["study_version"] != v1_hash
    assert _subject(staff02, new02)["study_version"] == v1_hash

    migrations = "/studies/CD7_CART_SAA/migrations"
    bad = {"/to": dm.post(migrations, {"to": "9.9.9", "reason": "x"}),
           "/reason": dm.post(migrations, {"to": "2.0.0", "site": "01"}),
           "/subject": dm.post(migrations, {"to": "2.0.0", "site": "02", "subject": old01, "reason": "x"}),
           "/site": dm.post(migrations, {"to": "2.0.0", "site": "99", "reason": "x"}),
           "/dry_run": dm.post(migrations, {"to": "2.0.0", "dry_run": "perhaps", "reason": "x"})}
    for pointer, response in bad.items():
        assert 400 <= response.status_code < 500, (pointer, response.get_json())
        assert [e["path"] for e in response.get_json()["errors"]] == [pointer], response.get_json()
    assert staff01.post(migrations, {"to": "2.0.0", "dry_run": True}).status_code == 403

    with app.app_context():
        from ecrf.db import database

        events_before = database().audit_events.count_documents({})
        dry = _finished(dm, dm.post(migrations, {"to": "2.0.0", "site": "01", "dry_run": True}))
        assert database().audit_events.count_documents({}) == events_before
    assert dry["dry_run"] and dry["total"] == 2 and dry["progress"] == 2
    assert dry["report"]["counts"] == {"planned": 1, "unchanged": 1}
    planned = next(s for s in dry["report"]["subjects"] if s["subject"] == old01)
    aph = next(r for r in planned["records"] if r["form"] == "APH")
    assert aph["retired"] == {"APHAE": True} and aph["added"] == ["APHNEW"] and aph["new_required"] == ["/APHNEW"]

    moved = _finished(dm, dm.post(migrations, {"to": "2.0.0", "site": "01", "reason": "Amendment 2"}))
    assert moved["report"]["counts"] == {"migrated": 1, "unchanged": 1} and moved["reason"] == "Amendment 2"
    record = staff01.get(staff01.record_path(old01, "APH", "APH")).get_json()
    assert record["retired"] == {"APHAE": True} and record["missing"] == ["/APHNEW"]
    assert _subject(staff02, old02)["study_version"] == v1_hash  # site 02 has no approval: not moved

    one = _finished(dm, dm.post(migrations, {"to": "2.0.0", "subject": old01, "reason": "Amendment 2"}))
    assert one["subject"] == old01 and one["report"]["counts"] == {"unchanged": 1}
    assert dm.get(f"{migrations}/{'0' * 24}").status_code == 404
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
