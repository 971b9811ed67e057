"""The amendment scenario end to end on the real wire server, through the API and the command line.

Version 2.0.0 removes APHAE and adds the required APHNEW (tests/amendment.py). Before, a data manager
loading it made existing records unsaveable (422 "unknown item 'APHAE'"), moved every site at once and
left records "complete" with APHNEW missing.
"""

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
