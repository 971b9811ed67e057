"""SDV over HTTP without script: the form page's item marks, the marker after a change, the worklist, the grid."""

import re

from conftest import login, record, token_in

VS = "/studies/MINI/subjects/{}/events/SCREEN/forms/VS"


def test_a_monitor_verifies_items_a_change_marks_one_and_the_worklist_lists_it(client, staff, saved):
    login(client, "mon01")
    url = VS.format(saved)
    page = client.get(url).get_data(as_text=True)
    assert 'id="sdv-panel"' in page and 'data-item="/WEIGHT" data-sdv="awaiting"' in page
    client.post(url + "/do/sdv-items", data={"csrf_token": token_in(page), "item": ["/WEIGHT", "/HEIGHT"]})
    page = client.get(url).get_data(as_text=True)
    assert 'data-item="/WEIGHT" data-sdv="verified"' in page and 'data-item="/VSDTC" data-sdv="awaiting"' in page
    nothing = client.post(url + "/do/sdv-items", data={"csrf_token": token_in(page)}, follow_redirects=True)
    assert "select at least one item" in nothing.get_data(as_text=True)
    client.post(url + "/do/sdv", data={"csrf_token": token_in(page)})
    assert record(staff, saved)["lifecycle"] == "verified"
    staff.save(saved, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 72},
               version=record(staff, saved)["version"], reason="transcription")
    page = client.get(url).get_data(as_text=True)
    marker = re.search(r'<span class="sdv-marker" data-marker="/WEIGHT">(.*?)</span>', page, re.S).group(1)
    assert "<del>70</del> → <ins>72</ins>" in marker and "Staff01" in marker and "CST" in marker
    assert 'data-item="/HEIGHT" data-sdv="verified"' in page
    worklist = client.get("/studies/MINI/sdv").get_data(as_text=True)
    row = re.search(rf'<tr data-subject="{saved}" data-event="SCREEN" data-form="VS" data-sdv="changed">.*?</tr>',
                    worklist, re.S).group(0)
    assert 'data-marker="/WEIGHT"' in row and "<del>70</del>" in row
    grid = client.get(f"/studies/MINI/subjects/{saved}").get_data(as_text=True)
    assert re.search(r'data-event="SCREEN" data-status="complete" data-sdv="changed"', grid)
    listing = client.get("/studies/MINI/subjects").get_data(as_text=True)
    assert re.search(rf'data-subject="{saved}">.*?data-sdv-verified="0" data-sdv-due="2" data-sdv-changed="1"',
                     listing, re.S)


def test_the_worklist_is_for_monitors_of_their_sites_and_data_managers(client, as_user, staff, saved):
    other = as_user("staff02")
    elsewhere = other.register("02")
    other.save(elsewhere, "SCREEN", "VS", {"WEIGHT": 60})
    assert {w["subject"] for w in as_user("mon01").get("/studies/MINI/sdv").get_json()} == {saved}
    assert {w["subject"] for w in as_user("dm").get("/studies/MINI/sdv").get_json()} == {saved, elsewhere}
    assert as_user("mon01").get("/studies/MINI/sdv?site=02").get_json() == []
    assert as_user("staff01").get("/studies/MINI/sdv").status_code == 403
    bad = as_user("dm").get("/studies/MINI/sdv?status=done")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["path"] == "/status"
    login(client, "staff01")
    assert client.get("/studies/MINI/sdv").status_code == 403
