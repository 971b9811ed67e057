"""The subject's status follows the bundled study's eligibility rule, on the API, the grid and the list."""

import pytest
from conftest import login

DM_16 = {"BRTHDTC": "2009-03-01", "SEX": "M", "ETHNIC": "HAN", "NATION": "CN"}  # 16 at consent on 2026-01-10
ALL_MET = {f"IN{n:02d}": True for n in range(1, 12)} | {f"EX{n:02d}": False for n in range(1, 15)}


@pytest.fixture
def staff(cd7):
    return cd7("staff01")


def _status(staff, subject):
    return staff.get(f"/studies/CD7_CART_SAA/subjects/{subject}").get_json()["status"]


def _screened(staff, ie: dict) -> str:
    subject = staff.register()
    staff.save(subject, "SCREEN", "IC", {"RFICDTC": "2026-01-10", "ICVER": "1", "ICREAD": True})
    assert staff.save(subject, "SCREEN", "DM", DM_16).get_json()["derived"]["AGE"] == 16
    assert staff.save(subject, "SCREEN", "IE", {"IEDTC": "2026-01-12", **ie}).status_code == 201
    return subject


@pytest.mark.parametrize("ie, status", [
    ({"IN01": False}, "screen_failed"),  # the 16-year-old: age criterion not met, the rest not answered yet
    ({"EX05": True}, "screen_failed"),  # one exclusion present is enough
    ({"IN02": False, "IN03": False}, "screen_failed"),  # neither 2a nor 2b
    ({"IN02": False}, "screening"),  # 2b may still be met
    ({"IN01": True}, "screening"),  # nothing failed, not all answered
    (ALL_MET, "enrolled"),
])
def test_a_failed_criterion_fails_screening_even_before_the_checklist_is_complete(staff, ie, status):
    subject = _screened(staff, ie)
    assert _status(staff, subject) == status
    ie_record = staff.get(staff.record_path(subject, "SCREEN", "IE")).get_json()
    assert ie_record["derived"].get("ELIGIBLE") == {"screen_failed": False, "enrolled": True}.get(status)


def test_the_grid_and_the_list_say_screen_failed_in_both_languages(cd7_app, staff):
    subject = _screened(staff, {"IN01": False})
    client = cd7_app.test_client()
    login(client, "staff01")
    grid = client.get(f"/studies/CD7_CART_SAA/subjects/{subject}").get_data(as_text=True)
    assert 'data-status="screen_failed">Screen failed<' in grid.replace("\n", "")
    listing = client.get("/studies/CD7_CART_SAA/subjects").get_data(as_text=True)
    row = listing.split(f'data-subject="{subject}"')[1].split("</tr>")[0]
    assert row.count("Screen failed") == 1 and "screen_failed<" not in row
    client.get("/lang/zh")
    assert "筛选失败" in client.get(f"/studies/CD7_CART_SAA/subjects/{subject}").get_data(as_text=True)
