"""The form page over HTTP without script: one round of errors, queries that keep typed values, save and go on."""

import re

from conftest import login, token_in

VS = "/studies/MINI/subjects/{}/events/SCREEN/forms/VS"


def test_a_wrong_type_and_an_out_of_range_value_are_reported_together_by_label_in_form_order(client, subject):
    login(client, "staff01")
    url = VS.format(subject)
    page = client.get(url).get_data(as_text=True)
    response = client.post(url, data={"csrf_token": token_in(page), "version": "0", "HEIGHT": "tall", "WEIGHT": "900"})
    body = response.get_data(as_text=True)
    summary = re.search(r'<article class="errors error-summary".*?</article>', body, re.S).group(0)
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    assert response.status_code == 422 and [target for target, _ in links] == ["HEIGHT", "WEIGHT"]
    assert links[0][1].startswith("Height: ") and links[1][1].startswith("Weight: 900 is greater than")
    assert "<code>/" not in body and 'role="alert"' in summary


def test_without_script_answering_a_query_keeps_the_typed_values_unsaved(client, staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    login(client, "mon01")
    url = VS.format(subject)
    page = client.get(url).get_data(as_text=True)
    response = client.post(url + "/query", data={"csrf_token": token_in(page), "version": "1", "WEIGHT": "72",
                                                  "_query": "raise:/WEIGHT", "text:raise:/WEIGHT": "please check"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "not saved yet" in body and 'value="72"' in body
    assert "please check" in body
    assert staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()["data"]["WEIGHT"] == 70


def test_with_script_a_query_action_answers_the_items_panel_alone(client, staff, subject):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    login(client, "mon01")
    url = VS.format(subject)
    page = client.get(url).get_data(as_text=True)
    response = client.post(url + "/query", data={"csrf_token": token_in(page), "_fragment": "1", "_item": "/WEIGHT",
                                                  "_query": "raise:/WEIGHT", "text:raise:/WEIGHT": "please check"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.strip().startswith('<div class="query-panel" data-panel="/WEIGHT"')
    assert "please check" in body and "1 open query" in body and "<form" not in body
    refused = client.post(url + "/query", data={"csrf_token": token_in(page), "_fragment": "1", "_item": "/WEIGHT",
                                                 "_query": "raise:/WEIGHT"})
    assert 400 <= refused.status_code < 500 and refused.mimetype == "text/plain"


def test_save_and_next_form_goes_to_the_events_next_form_and_return_goes_to_the_grid(client, subject):
    login(client, "staff01")
    url = f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/DM"
    token = token_in(client.get(url).get_data(as_text=True))
    going_on = client.post(url, data={"csrf_token": token, "version": "0", "SEX": "M", "_then": "next"})
    assert going_on.status_code == 302 and going_on.location.endswith(f"/subjects/{subject}/events/SCREEN/forms/LB")
    back = client.post(url, data={"csrf_token": token, "version": "1", "SEX": "M", "_then": "grid"})
    assert back.status_code == 302 and back.location.endswith(f"/subjects/{subject}")


def test_in_chinese_the_error_summary_says_type_and_range_faults_in_chinese(client, subject):
    login(client, "staff01")
    client.get("/lang/zh")
    url = VS.format(subject)
    page = client.get(url).get_data(as_text=True)
    response = client.post(url, data={"csrf_token": token_in(page), "version": "0", "HEIGHT": "tall", "WEIGHT": "900"})
    summary = re.search(r'<article class="errors error-summary".*?</article>',
                        response.get_data(as_text=True), re.S).group(0)
    texts = [text for _, text in re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)]
    assert response.status_code == 422 and len(texts) == 2
    assert "900 大于最大值" in texts[1]
    assert not [word for text in texts for word in re.findall(r"[A-Za-z]{3,}", text.split(":", 1)[1])], texts
