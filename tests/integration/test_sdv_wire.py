"""Item SDV on a real wire-protocol server: verify items, a site change marks one, the worklist lists it,
re-verification clears it, and the record's trail still verifies and replays to the same projection."""

import pytest
from conftest import Api, record

from ecrf.integrity import verify_all

pytestmark = pytest.mark.integration


def test_item_sdv_marker_and_worklist_on_the_wire(wire_app):
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    monitor = Api(wire_app.test_client(), wire_app.tokens["mon01"])
    other = Api(wire_app.test_client(), wire_app.tokens["mon02"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70})
    path = staff.record_path(subject, "SCREEN", "VS")
    assert [w["sdv"] for w in monitor.get("/studies/MINI/sdv").get_json()] == ["awaiting"]
    assert monitor.post(path + "/sdv", {"items": ["/HEIGHT", "/WEIGHT"]}).status_code == 200
    listed = monitor.get(f"/studies/MINI/sdv?subject={subject}&event=SCREEN").get_json()
    assert [(w["form"], w["sdv"], w["verified_items"], w["required_items"]) for w in listed] == [
        ("VS", "partial", 2, 5)]
    assert monitor.post(path + "/sdv", {}).status_code == 200
    assert monitor.get("/studies/MINI/sdv").get_json() == []
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 171, "WEIGHT": 70},
               version=record(staff, subject)["version"], reason="re-measured")
    changed = monitor.get("/studies/MINI/sdv?status=changed").get_json()
    assert len(changed) == 1 and set(changed[0]["changes"]) == {"/HEIGHT"}
    marker = changed[0]["changes"]["/HEIGHT"]
    assert (marker["old"], marker["new"], marker["by"], marker["verified"]["by"]) == (170, 171, "staff01", "mon01")
    assert marker["at"].endswith("Z")
    assert other.get("/studies/MINI/sdv").get_json() == []  # site 02's monitor sees none of site 01
    assert set(record(staff, subject)["sdv_items"]) == {"/VSDTC", "/VSTIM", "/WEIGHT", "/MEASURED_AT"}
    assert monitor.post(path + "/sdv", {"items": ["/HEIGHT"]}).status_code == 200
    after = record(staff, subject)
    assert after["sdv_changes"] == {} and after["lifecycle"] == "verified"
    assert monitor.get("/studies/MINI/sdv").get_json() == []
    actions = [e["action"] for e in staff.get(path + "/audit").get_json()]
    assert actions == ["create", "sdv_items", "sdv", "update", "sdv_items"]
    with wire_app.app_context():
        assert verify_all() == []  # the projection, markers included, is what the stream folds to
