"""The query list as people work it: filters (API and page alike), counts per state, choosers, labels and CSV."""

import csv
import io

import pytest
from conftest import login

from audit import ROW_ID
from ecrf import queries
from ecrf.query_list import CSV_COLUMNS, choosers, labels_for, write_csv
from ecrf.studies import study_runtime
from ecrf.users import get_user


@pytest.fixture
def world(as_user, staff):
    """Subjects at both sites; queries on VS and LB in each state; one whose text a spreadsheet would run."""
    monitor, mon02, dm = as_user("mon01"), as_user("mon02"), as_user("dm")
    one, two = staff.register("01"), as_user("staff02").register("02")
    for subject, api in ((one, staff), (two, as_user("staff02"))):
        assert api.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "WEIGHT": 70, "HEIGHT": 170}).status_code \
            == 201
    raised = {}
    for name, (subject, who, item, text) in {
        "weight": (one, monitor, "/WEIGHT", "=HYPERLINK(\"http://x\")"),
        "height": (one, monitor, "/HEIGHT", "Height as in source?"),
        "date": (one, monitor, "/VSDTC", "Date?"),
        "other-site": (two, mon02, "/WEIGHT", "Weight at site 02?"),
    }.items():
        response = who.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                        "item": item, "text": text})
        assert response.status_code == 201, response.get_json()
        raised[name] = response.get_json()["id"]
    staff.post(f"/studies/MINI/queries/{raised['height']}/replies", {"text": "It is"})
    monitor.post(f"/studies/MINI/queries/{raised['date']}/close", {"text": "fine"})
    return {"one": one, "two": two, "ids": raised, "monitor": monitor, "dm": dm}


def ids_of(api, params: str = "") -> set[str]:
    response = api.get(f"/studies/MINI/queries{params}")
    assert response.status_code == 200, response.get_json()
    return {q["id"] for q in response.get_json()}


def test_the_api_takes_several_states_and_a_minimum_age_and_keeps_every_state_by_default(world):
    ids, dm = world["ids"], world["dm"]
    assert ids_of(dm) == set(ids.values())  # no state asked: every state, as before
    assert ids_of(dm, "?state=open&state=answered") == {ids["weight"], ids["height"], ids["other-site"]}
    assert ids_of(dm, "?state=answered,closed") == {ids["height"], ids["date"]}
    assert ids_of(dm, "?min_age=0&site=02") == {ids["other-site"]}
    assert ids_of(dm, "?min_age=1") == set()  # all were opened today


def test_a_minimum_age_that_is_not_a_whole_number_is_refused_naming_it(world):
    response = world["dm"].get("/studies/MINI/queries?min_age=soon")
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "/min_age"


def test_a_monitor_sees_and_counts_only_the_queries_of_their_sites(app, world):
    ids = world["ids"]
    assert ids_of(world["monitor"]) == {ids["weight"], ids["height"], ids["date"]}
    assert ids_of(world["monitor"], "?site=02") == set()
    with app.app_context():
        study, monitor = study_runtime("MINI"), get_user("mon01")
        counts = queries.state_counts(study, monitor, state=["open"])  # counts ignore the state asked for
        assert counts == {"open": 1, "answered": 1, "closed": 1, "not_applicable": 0}
        assert queries.state_counts(study, get_user("dm"), site="02") == {
            "open": 1, "answered": 0, "closed": 0, "not_applicable": 0}


def test_choosers_offer_the_users_sites_and_subjects_and_the_chosen_forms_items_by_label(app, as_user, world):
    with app.app_context():
        study = study_runtime("MINI")
        labels = labels_for(study, "en")
        mine = choosers(study, get_user("mon01"), labels)
        assert mine.sites == [("01", "01 · Site one")]
        assert mine.subjects == [(world["one"], world["one"])]
        assert ("SCREEN", "Screening") in mine.events and ("VS", "Vital signs") in mine.forms
        assert mine.items == []  # until a form is chosen
        in_form = choosers(study, get_user("dm"), labels, form="VS")
        assert ("/WEIGHT", "Weight") in in_form.items and ("/HEIGHT", "Height") in in_form.items
        assert {s for s, _ in in_form.subjects} == {world["one"], world["two"]}
        assert choosers(study, get_user("dm"), labels, site="02").subjects == [(world["two"], world["two"])]
        assert choosers(study, get_user("mon01"), labels, site="02").subjects == []
        rows = dict(choosers(study, get_user("dm"), labels, form="AE").items)
        assert rows["/AE/*/AETERM"] == labels.item("AE", "/AE/abcdefgh/AETERM").removesuffix(" · abcdef")


def test_an_item_of_a_repeating_group_is_filtered_in_every_row(app, as_user, staff, subject):
    saved = staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "Rash"}, {"AETERM": "Fever"}]}).get_json()
    rows = [row[ROW_ID] for row in saved["data"]["AE"]]
    monitor = as_user("mon01")
    raised = set()
    for row in rows:
        response = monitor.post("/studies/MINI/queries", {"subject": subject, "event": "LOGS", "form": "AE",
                                                          "item": f"/AE/{row}/AETERM", "text": "Term?"})
        assert response.status_code == 201, response.get_json()
        raised.add(response.get_json()["id"])
    with app.app_context():
        found = queries.list_queries(study_runtime("MINI"), get_user("mon01"), item="/AE/*/AETERM")
        assert {q.query_id for q in found} == raised
        assert queries.list_queries(study_runtime("MINI"), get_user("mon01"), item="/AE/*/AESTDTC") == []


def test_labels_name_a_row_of_a_repeating_group_and_fall_back_to_the_code(app):
    with app.app_context():
        labels = labels_for(study_runtime("MINI"), "en")
        assert labels.item("AE", "/AE/r1b2c3d4e5/AETERM").endswith(" · r1b2c3")
        assert labels.item("VS", "/NOPE") == "/NOPE" and labels.event("GONE") == "GONE"


def test_the_csv_has_labels_beside_codes_and_no_cell_a_spreadsheet_would_run(app, world):
    with app.app_context():
        study = study_runtime("MINI")
        found = queries.query_documents(study, get_user("mon01"), state=["open", "answered"])
        text = io.StringIO()
        write_csv(text, found, labels_for(study, "en"))
    rows = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert list(rows[0]) == CSV_COLUMNS
    weight = next(r for r in rows if r["query_id"] == world["ids"]["weight"])
    assert (weight["event"], weight["event_label"], weight["form_label"], weight["item"], weight["item_label"]) == \
        ("SCREEN", "Screening", "Vital signs", "/WEIGHT", "Weight")
    assert weight["last_message"].startswith("'=HYPERLINK") and weight["site_name"] == "Site one"
    assert {r["state"] for r in rows} == {"open", "answered"}


def test_the_page_csv_download_is_utf8_with_a_bom_and_follows_the_pages_filters(client, world):
    login(client, "mon01")
    response = client.get("/studies/MINI/queries.csv?state=closed")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["query_id"] for r in rows] == [world["ids"]["date"]]
    default = client.get("/studies/MINI/queries.csv").get_data().decode("utf-8-sig")
    assert world["ids"]["date"] not in default and world["ids"]["weight"] in default  # closed hidden unless asked


def test_the_page_hides_closed_queries_unless_asked_and_shows_labels_and_counts(client, world):
    login(client, "mon01")
    page = client.get("/studies/MINI/queries").get_data(as_text=True)
    assert world["ids"]["date"] not in page and world["ids"]["weight"] in page
    assert '<td class="item-label">Weight</td>' in page and "<code>/WEIGHT</code>" not in page
    assert 'data-state="closed"' in page and "closed <strong>1</strong>" in page
    assert '<select name="subject"' in page and '<input name="subject"' not in page
    everything = client.get("/studies/MINI/queries?state=all").get_data(as_text=True)
    assert world["ids"]["date"] in everything
