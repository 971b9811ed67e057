"""A PUT merges into the stored record on the real wire server, with no more commands than a whole-form save."""

import pytest
from conftest import Api, record, sent_commands

pytestmark = pytest.mark.integration


def test_a_put_of_one_item_keeps_the_others_and_null_clears_on_the_real_server(wire_app):
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70})
    with sent_commands() as merged:
        assert staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="re-weighed").status_code == 200
    assert record(staff, subject)["data"] == {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 71}
    with sent_commands() as whole:
        staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 72},
                   version=2, reason="re-weighed")
    assert merged == whole, (merged, whole)
    cleared = staff.save(subject, "SCREEN", "VS", {"HEIGHT": None}, version=3, reason="not measured")
    assert cleared.status_code == 200 and cleared.get_json()["data"] == {"VSDTC": "2026-01-05", "WEIGHT": 72}
