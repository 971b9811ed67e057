"""SAE reports against a real wire-protocol server: two reviewers acting on one report at once leave exactly one
transition; the whole timeline's events hold under ``ecrf audit verify``; a re-save opens no second report."""

import threading

import pytest
from conftest import BUNDLED_STUDY, PASSWORD, Api, make_app

from ecrf.integrity import verify_all
from ecrf.users import add_user, issue_token

pytestmark = pytest.mark.integration
SAE = "/studies/CD7_CART_SAA/sae"
AE_ROW = {"AETERM": "Sepsis", "AETOXGR": 4, "AESTDTC": "2026-03-01", "AESER": True, "AESERCAT": ["life", "hosp"],
          "AERELCAR": "unlikely", "AERELLD": "possible", "AEOUT": "recovering"}


@pytest.fixture
def cd7_wire(tmp_path, wire_uri):
    app = make_app(tmp_path, wire_uri, study=BUNDLED_STUDY)
    with app.app_context():
        add_user("safety", "safety", [], PASSWORD, full_name="Safety Reviewer")
        app.tokens["safety"] = issue_token("safety")
    return app


def api(app, user):
    return Api(app.test_client(), app.tokens[user], "CD7_CART_SAA")


def test_two_reviewers_acknowledging_at_once_make_one_transition_and_every_stream_verifies(cd7_wire):
    staff, inv = api(cd7_wire, "staff01"), api(cd7_wire, "inv01")
    subject = staff.register()
    first = staff.save(subject, "LOGS", "AE", {"AE": [AE_ROW]}).get_json()
    staff.save(subject, "LOGS", "AE", {"AE": [{**first["data"]["AE"][0], "AEOUT": "recovered"}]},
               version=first["version"], reason="resolved")
    (report,) = staff.get(SAE).get_json()
    staff.put(f"{SAE}/{report['id']}", {"content": {"expectedness": "expected", "narrative": "Sepsis on day 9."}})
    assert inv.post(f"{SAE}/{report['id']}/submit", {"password": PASSWORD}).status_code == 200

    barrier, codes = threading.Barrier(2), []

    def acknowledge(user):
        client = api(cd7_wire, user)
        barrier.wait()
        codes.append(client.post(f"{SAE}/{report['id']}/acknowledge", {}).status_code)

    threads = [threading.Thread(target=acknowledge, args=(user,)) for user in ("safety", "dm")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(codes) == [200, 409]
    assert staff.get(f"{SAE}/{report['id']}").get_json()["state"] == "acknowledged"
    with cd7_wire.app_context():
        assert verify_all() == []
