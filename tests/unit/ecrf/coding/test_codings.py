"""AE coding on the bundled CD7 study: the chooser codes on save, free text waits for a coder, who codes it
(audited, with the dictionary version) or queries the site; the safety table and the exports carry it."""

import io
import zipfile

import pytest
from conftest import OVERRIDDEN, PASSWORD, login, token_in
from lxml import etree

from ecrf.coding import codings
from ecrf.coding.safety import safety_table
from ecrf.errors import Conflict, Forbidden, Invalid, Locked
from ecrf.exports.odm import odm_schema
from ecrf.integrity import verify_all
from ecrf.queries import Query
from ecrf.studies import study_runtime
from ecrf.trail import audit_store
from ecrf.users import User, add_user

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


@pytest.fixture
def coder(cd7_app):
    with cd7_app.app_context():
        add_user("coder1", "coder", [], PASSWORD, full_name="Coder One")
    return "coder1"


def ae_rows(*terms):
    return {"AE": [{"AETERM": term, "AETOXGR": grade, "AESTDTC": "2026-03-05"} for term, grade in terms]}


def in_app(app, fn):
    with app.app_context():
        return fn(study_runtime("CD7_CART_SAA"), lambda name: User.objects(username=name).first())


@pytest.fixture
def entered(cd7_app, cd7):
    """One subject at site 01 with a picked CTCAE term and a free-text term; one at site 02 with a picked term."""
    staff = cd7("staff01")
    one = staff.register("01")
    assert staff.save(one, "LOGS", "AE", ae_rows(("cytokine release syndrome", 3), ("Brain fog", 2))).status_code == 201
    two = cd7("staff02").register("02")
    assert cd7("staff02").save(two, "LOGS", "AE", ae_rows(("Cytokine release syndrome", 1))).status_code == 201
    return one, two


def test_a_picked_term_is_coded_on_save_with_its_code_and_dictionary_version(cd7_app, entered):
    one, _ = entered

    def check(study, user):
        found = codings.record_codings("CD7_CART_SAA", one, "LOGS", "AE")
        picked = next(c for c in found.values() if c.verbatim == "cytokine release syndrome")
        assert (picked.state, picked.code, picked.term, picked.soc) == (
            "coded", "10052015", "Cytokine release syndrome", "Immune system disorders")
        assert (picked.dictionary, picked.dictionary_version, picked.meddra_version, picked.method) == (
            "CTCAE", "5.0", "20.1", "chooser")
        free = next(c for c in found.values() if c.verbatim == "Brain fog")
        assert free.state == "uncoded" and free.code is None
    in_app(cd7_app, check)


def test_the_coder_codes_free_text_from_the_queue_and_the_change_is_audited(cd7_app, entered, coder):
    def check(study, user):
        (waiting,) = codings.coding_queue(study, user(coder))
        assert waiting.verbatim == "Brain fog" and waiting.item.endswith("/AETERM")
        coded = codings.code_term(study, user(coder), waiting.coding_id, "10014625")
        assert (coded.state, coded.term, coded.dictionary_version, coded.coded_by, coded.method) == (
            "coded", "Encephalopathy", "5.0", coder, "coder")
        assert codings.coding_queue(study, user(coder)) == []
        events = list(audit_store().events(waiting.coding_id))
        assert [e["action"] for e in events] == ["coding_needed", "coding_coded"]
        assert events[1]["actor"] == coder
        changed = {c["path"]: c["new"] for c in events[1]["changes"]}
        assert changed["/code"] == "10014625" and changed["/dictionary_version"] == "5.0"
        assert changed["/meddra_version"] == "20.1"
        assert verify_all() == []  # the coding streams hold their chain like every other stream
    in_app(cd7_app, check)


def test_coding_refuses_unknown_codes_other_roles_and_site_staff(cd7_app, entered, coder):
    def check(study, user):
        (waiting,) = codings.coding_queue(study, user(coder))
        with pytest.raises(Invalid) as refused:
            codings.code_term(study, user(coder), waiting.coding_id, "99999999")
        assert refused.value.errors[0].path == "/code"
        with pytest.raises(Forbidden):
            codings.code_term(study, user("staff01"), waiting.coding_id, "10014625")
        with pytest.raises(Forbidden):
            codings.coding_queue(study, user("mon01"))
        assert codings.get_coding(study, user(coder), waiting.coding_id).state == "uncoded"
    in_app(cd7_app, check)


def test_a_locked_record_or_a_frozen_study_refuses_coding_and_a_record_freeze_does_not(cd7_app, cd7, entered, coder):
    one, _ = entered
    dm = cd7("dm")
    record = dm.record_path(one, "LOGS", "AE")
    assert dm.post(record + "/lock", OVERRIDDEN).status_code == 200

    def refused(study, user):
        (waiting,) = codings.coding_queue(study, user(coder))
        with pytest.raises(Locked):
            codings.code_term(study, user(coder), waiting.coding_id, "10014625")
        with pytest.raises(Locked):
            codings.query_term(study, user(coder), waiting.coding_id, "unclear")
        assert codings.get_coding(study, user(coder), waiting.coding_id).state == "uncoded"
    in_app(cd7_app, refused)
    assert dm.post(record + "/unlock", {"reason": "coding"}).status_code == 200
    assert dm.post(record + "/freeze", OVERRIDDEN).status_code == 200

    def coded(study, user):
        (waiting,) = codings.coding_queue(study, user(coder))
        assert codings.code_term(study, user(coder), waiting.coding_id, "10014625").state == "coded"
    in_app(cd7_app, coded)


def test_an_unclear_term_is_queried_to_the_site_and_a_changed_term_is_coded_again(cd7_app, cd7, entered, coder):
    one, _ = entered

    def ask(study, user):
        (waiting,) = codings.coding_queue(study, user(coder))
        with pytest.raises(Invalid):
            codings.query_term(study, user(coder), waiting.coding_id, "  ")
        queried = codings.query_term(study, user(coder), waiting.coding_id, "Please give the CTCAE term.")
        assert queried.state == "queried" and queried.query_id
        query = Query.objects(query_id=queried.query_id).first()
        assert (query.subject, query.item, query.state) == (one, waiting.item, "open")
        assert query.messages[0]["text"] == "Please give the CTCAE term."
        return waiting.item

    item = in_app(cd7_app, ask)
    # The site answers by picking a term: the row keeps its id, the coding follows the new verbatim.
    staff = cd7("staff01")
    record = staff.get(staff.record_path(one, "LOGS", "AE")).get_json()
    rows = record["data"]["AE"]
    row = next(r for r in rows if r["AETERM"] == "Brain fog")
    row["AETERM"] = "Encephalopathy"
    saved = staff.save(one, "LOGS", "AE", {"AE": rows}, version=record["version"], reason="query answered")
    assert saved.status_code == 200, saved.get_json()

    def recoded(study, user):
        coding = codings.record_codings("CD7_CART_SAA", one, "LOGS", "AE")[item]
        assert (coding.state, coding.code, coding.method) == ("coded", "10014625", "chooser")
        assert codings.coding_queue(study, user(coder)) == []
        with pytest.raises(Conflict):
            codings.query_term(study, user(coder), coding.coding_id, "again?")
    in_app(cd7_app, recoded)


def test_the_safety_table_counts_coded_terms_by_class_term_and_worst_grade(cd7_app, entered):
    def check(study, user):
        table = safety_table(study, user("dm"))
        crs = next(r for r in table if r["term"] == "Cytokine release syndrome")
        assert crs["subjects"] == 2 and crs["pct"] == 100.0 and crs["worst"][3] == 1 and crs["worst"][1] == 1
        waiting = next(r for r in table if r["level"] == "soc" and r["soc"] == "Not yet coded")
        assert waiting["subjects"] == 1
        # Site staff see their own site only.
        mine = safety_table(study, user("staff01"))
        assert next(r for r in mine if r["term"] == "Cytokine release syndrome")["subjects"] == 1
    in_app(cd7_app, check)


def test_the_reports_page_safety_table_from_the_summaries_is_the_one_from_the_records(cd7_app, entered, coder):
    from ecrf import reports

    def check(study, user):
        (waiting,) = codings.coding_queue(study, user(coder))
        codings.code_term(study, user(coder), waiting.coding_id, "Encephalopathy")
        for who in ("dm", "staff01"):
            summarised = reports.safety(study, user(who))
            assert summarised == safety_table(study, user(who)), who
        assert "Not yet coded" not in {r["soc"] for r in summarised}  # coded terms found through the row ids
    in_app(cd7_app, check)


def test_the_queue_page_codes_a_term_and_the_reports_page_shows_the_table(cd7_app, entered, coder):
    client = cd7_app.test_client()
    assert login(client, coder).status_code == 302
    page = client.get("/studies/CD7_CART_SAA/coding")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "«Brain fog»" in html and "CTCAE 5.0 (MedDRA 20.1)" in html
    coding_id = html.split('name="coding" value="')[1].split('"')[0]
    done = client.post("/studies/CD7_CART_SAA/coding/code",
                       data={"csrf_token": token_in(html), "coding": coding_id, "code": "Nonsense"},
                       follow_redirects=True)
    assert "not a term of CTCAE 5.0" in done.get_data(as_text=True)
    assert "/code " not in done.get_data(as_text=True)  # a page names the field by its label, never its pointer
    done = client.post("/studies/CD7_CART_SAA/coding/code",
                       data={"csrf_token": token_in(html), "coding": coding_id, "code": "Encephalopathy"},
                       follow_redirects=True)
    assert "Term coded" in done.get_data(as_text=True) and "No term is waiting to be coded." in done.get_data(
        as_text=True)
    reports = client.get("/studies/CD7_CART_SAA/reports").get_data(as_text=True)
    assert 'id="safety-table"' in reports and "Immune system disorders" in reports and "Encephalopathy" in reports


def test_site_staff_may_not_open_the_queue(cd7_app, entered):
    client = cd7_app.test_client()
    login(client, "staff01")
    assert client.get("/studies/CD7_CART_SAA/coding").status_code == 403


def test_the_form_page_offers_the_ctcae_terms_to_choose_from(cd7_app, entered):
    one, _ = entered
    client = cd7_app.test_client()
    login(client, "staff01")
    html = client.get(f"/studies/CD7_CART_SAA/subjects/{one}/events/LOGS/forms/AE").get_data(as_text=True)
    assert '<option value="Cytokine release syndrome">' in html
    # Two AE rows share one list of the 837 terms: the page carries it once, not once a row.
    assert html.count('list="terms-CTCAE"') == 2 and html.count('<datalist id="terms-CTCAE">') == 1
    assert html.count("<option value=") >= 837 and html.count('<option value="Anemia">') == 1
    assert "CTCAE 5.0: Cytokine release syndrome · 10052015" in html and "Waiting for the coder" in html


def test_csv_export_holds_the_codings_and_the_safety_table(cd7_app, entered, coder):
    api = cd7_app.test_client()
    headers = {"Authorization": f"Bearer {cd7_app.tokens['dm']}"}
    response = api.get("/api/v1/studies/CD7_CART_SAA/export/csv", headers=headers)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    coding_csv = archive.read("ae_coding.csv").decode("utf-8-sig")
    picked = ("cytokine release syndrome,3,coded,10052015,Cytokine release syndrome,Immune system disorders,"
              "CTCAE,5.0,20.1")
    assert picked in coding_csv
    assert "Brain fog,2,uncoded," in coding_csv
    safety = archive.read("safety_table.csv").decode("utf-8-sig").splitlines()
    assert safety[0].startswith("level,soc,term,subjects,percent,worst_grade_1")
    assert "term,Immune system disorders,Cytokine release syndrome,2,100.0,1,0,1,0,0,0" in safety


def test_odm_export_carries_the_coded_values_and_stays_valid(cd7_app, entered):
    headers = {"Authorization": f"Bearer {cd7_app.tokens['dm']}"}
    response = cd7_app.test_client().get("/api/v1/studies/CD7_CART_SAA/export/odm", headers=headers)
    assert response.status_code == 200
    document = etree.fromstring(response.data)
    with cd7_app.app_context():
        schema = odm_schema()
        assert schema.validate(document), [e.message for e in list(schema.error_log)[:5]]
    flags = document.xpath("//odm:ItemData[@ItemOID='IT.AE.AETERM']/odm:Annotation/odm:Flag", namespaces=NS)
    assert {f.find("odm:FlagValue", NS).text for f in flags} == {"CTCAE 5.0"}
    comments = [c.text for c in document.xpath(
        "//odm:ItemData[@ItemOID='IT.AE.AETERM']/odm:Annotation/odm:Comment", namespaces=NS)]
    assert len(comments) == 2 and all("code 10052015" in c and "MedDRA 20.1" in c for c in comments)
    listed = document.xpath("//odm:CodeList[@OID='CL.CODING_DICTIONARY']/odm:CodeListItem/@CodedValue",
                            namespaces=NS)
    assert listed == ["CTCAE 5.0", "Verbatim 1"]


def test_a_concomitant_medication_waits_in_the_same_queue_and_is_coded_verbatim(cd7_app, cd7, entered, coder):
    one, _ = entered
    staff = cd7("staff01")
    saved = staff.save(one, "LOGS", "CM", {"CM": [{"CMTRT": "Tylenol 500", "CMSTDTC": "2026-03-05"}]})
    assert saved.status_code == 201, saved.get_json()

    def check(study, user):
        waiting = {c.verbatim: c for c in codings.coding_queue(study, user(coder))}
        assert set(waiting) == {"Brain fog", "Tylenol 500"}
        medication = waiting["Tylenol 500"]
        assert (medication.form, medication.dictionary) == ("CM", "Verbatim")
        with pytest.raises(Invalid) as refused:
            codings.code_term(study, user(coder), medication.coding_id, "  ")
        assert refused.value.errors[0].path == "/code"
        coded = codings.code_term(study, user(coder), medication.coding_id, "Paracetamol")
        assert (coded.state, coded.term, coded.dictionary, coded.dictionary_version, coded.method) == (
            "coded", "Paracetamol", "Verbatim", "1", "coder")
        assert [c.verbatim for c in codings.coding_queue(study, user(coder))] == ["Brain fog"]
    in_app(cd7_app, check)
    headers = {"Authorization": f"Bearer {cd7_app.tokens['dm']}"}
    document = etree.fromstring(cd7_app.test_client().get("/api/v1/studies/CD7_CART_SAA/export/odm",
                                                          headers=headers).data)
    with cd7_app.app_context():
        assert odm_schema().validate(document)
    (comment,) = document.xpath("//odm:ItemData[@ItemOID='IT.CM.CMTRT']/odm:Annotation/odm:Comment", namespaces=NS)
    assert "term Paracetamol" in comment.text and "verbatim Tylenol 500" in comment.text


def test_removing_a_row_withdraws_its_coding_from_the_queue_and_keeps_its_history(cd7_app, cd7, entered, coder):
    one, _ = entered
    staff = cd7("staff01")
    record = staff.get(staff.record_path(one, "LOGS", "AE")).get_json()
    rows = [r for r in record["data"]["AE"] if r["AETERM"] != "Brain fog"]
    saved = staff.save(one, "LOGS", "AE", {"AE": rows}, version=record["version"], reason="entered in error")
    assert saved.status_code == 200, saved.get_json()

    def check(study, user):
        assert codings.coding_queue(study, user(coder)) == []
        states = {c.verbatim: c.state for c in codings.record_codings("CD7_CART_SAA", one, "LOGS", "AE").values()}
        assert states == {"cytokine release syndrome": "coded", "Brain fog": "withdrawn"}
        gone = next(c for c in codings.record_codings("CD7_CART_SAA", one, "LOGS", "AE").values()
                    if c.state == "withdrawn")
        assert [e["action"] for e in audit_store().events(gone.coding_id)] == ["coding_needed", "coding_withdrawn"]
        assert [r["term"] for r in safety_table(study, user("dm")) if r["level"] == "term"] == [
            "Cytokine release syndrome"]
    in_app(cd7_app, check)


def test_the_excel_export_has_the_coding_and_safety_sheets(cd7_app, entered):
    from openpyxl import load_workbook

    headers = {"Authorization": f"Bearer {cd7_app.tokens['dm']}"}
    response = cd7_app.test_client().get("/api/v1/studies/CD7_CART_SAA/export/xlsx", headers=headers)
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data))
    coded = [row for row in workbook["ae_coding"].iter_rows(values_only=True)]
    assert coded[0][:8] == ("subject", "site", "event", "row_id", "verbatim", "grade", "state", "meddra_code")
    assert {(r[4], r[7]) for r in coded[1:]} == {("cytokine release syndrome", "10052015"),
                                                 ("Cytokine release syndrome", "10052015"), ("Brain fog", None)}
    safety = [row for row in workbook["safety_table"].iter_rows(values_only=True)]
    assert ("term", "Immune system disorders", "Cytokine release syndrome") == safety[2][:3]
