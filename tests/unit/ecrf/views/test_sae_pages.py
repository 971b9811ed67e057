"""The SAE pages: the list with its clock in site time, the report form with a GOV.UK error summary, and the
actions (submit with password, acknowledge) from the pages; the safety reviewer's menu holds SAE reports only."""

import re
import sys
from pathlib import Path

from conftest import PASSWORD, login, token_in

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "safety"))
from sae_fixtures import safety_reviewer, serious_event  # noqa: E402

SAE = "/studies/CD7_CART_SAA/sae"


def _client(app, user):
    client = app.test_client()
    login(client, user)
    return client


def test_the_list_shows_due_time_at_the_site_with_its_zone_and_the_time_left(cd7_app, cd7):
    _, report = serious_event(cd7)
    page = _client(cd7_app, "staff01").get(SAE).get_data(as_text=True)
    assert f'data-report="{report}"' in page
    due = re.search(r'<td class="due">([^<]+)</td>', page).group(1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CST", due), due
    assert re.search(r"2[34] h \d+ min left", page)


def test_a_bad_field_is_named_by_its_label_in_an_error_summary_and_nothing_is_stored(cd7_app, cd7):
    _, report = serious_event(cd7)
    client = _client(cd7_app, "staff01")
    form = client.get(f"{SAE}/{report}").get_data(as_text=True)
    response = client.post(f"{SAE}/{report}", data={"csrf_token": token_in(form), "version": "1",
                                                    "onset_date": "yesterday", "awareness_at": "2026-03-01T08:00"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="error-summary"' in page
    assert '<a href="#sae-onset_date">Onset date:' in page
    assert cd7("staff01").get(f"{SAE}/{report}").get_json()["version"] == 1


def test_the_site_saves_and_the_investigator_submits_and_the_reviewer_acknowledges_from_the_pages(cd7_app, cd7):
    safety_reviewer(cd7_app)
    _, report = serious_event(cd7)
    staff = _client(cd7_app, "staff01")
    token = token_in(staff.get(f"{SAE}/{report}").get_data(as_text=True))
    saved = staff.post(f"{SAE}/{report}", data={
        "csrf_token": token, "version": "1", "event_term": "Febrile neutropenia", "seriousness": ["hosp"],
        "onset_date": "2026-03-01", "awareness_at": "2026-03-01T08:00", "outcome": "recovering",
        "causality_cart": "possible", "causality_ld": "probable", "expectedness": "unexpected",
        "narrative": "Admitted with fever."})
    assert saved.status_code == 302
    assert cd7("staff01").get(f"{SAE}/{report}").get_json()["awareness_at"] == "2026-03-01T00:00:00.000Z"
    inv = _client(cd7_app, "inv01")
    token = token_in(inv.get(f"{SAE}/{report}").get_data(as_text=True))
    inv.post(f"{SAE}/{report}/do/submit", data={"csrf_token": token, "password": PASSWORD})
    reviewer = _client(cd7_app, "safety")
    page = reviewer.get(f"{SAE}/{report}").get_data(as_text=True)
    assert 'id="sae-acknowledge"' in page and 'id="nav-sae"' in page and "nav-queries" not in page
    reviewer.post(f"{SAE}/{report}/do/acknowledge", data={"csrf_token": token_in(page), "text": "Received"})
    assert cd7("staff01").get(f"{SAE}/{report}").get_json()["state"] == "acknowledged"


def test_the_page_in_chinese_shows_chinese_labels(cd7_app, cd7):
    _, report = serious_event(cd7)
    client = _client(cd7_app, "staff01")
    client.get("/lang/zh")
    page = client.get(f"{SAE}/{report}").get_data(as_text=True)
    assert "严重不良事件报告" in page and "草稿" in page and "住院或住院时间延长" in page
