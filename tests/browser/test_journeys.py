"""The people's journeys in a real browser (Debian's Chromium) against the app on the real database."""


import pytest
from conftest import Api, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"


def record_url(app, subject, event, form):
    return f"{app.base_url}{STUDY}/subjects/{subject}/events/{event}/forms/{form}"


def test_site_staff_enters_screening_data_and_fixes_a_query(live_app, page):
    sign_in(page, live_app.base_url, "staff01")
    page.goto(f"{live_app.base_url}{STUDY}/subjects")
    page.click("text=Register subject")
    page.select_option("#site", "01")
    page.click("#register")
    expect(page.locator("h1")).to_contain_text("Subject")
    subject = page.url.rstrip("/").split("/")[-1]

    # Demographics: a conditional item appears and disappears as answers change, without a reload.
    page.click(f'a[href$="/subjects/{subject}/events/SCREEN/forms/DM"]')
    page.fill("#BRTHDTC", "1985-06-15")
    childpot = page.locator('[data-item="CHILDPOT"]')
    page.check('input[name="SEX"][value="F"]')
    expect(childpot).to_be_visible()
    page.check('input[name="SEX"][value="M"]')
    expect(childpot).to_be_hidden()
    page.check('input[name="ETHNIC"][value="HAN"]')
    page.check('input[name="NATION"][value="CN"]')
    page.click("#save")
    expect(page.locator("#record-status")).to_have_text("complete")

    # Chemistry with an out-of-range ALT: flagged high and queried.
    page.goto(record_url(live_app, subject, "SCREEN", "LB_CHEM"))
    for field, value in {"LBDTC": "2026-01-11", "ALT": "200", "AST": "20", "BILI": "10", "CREAT": "70"}.items():
        page.fill(f"#{field}", value)
    page.click("#save")
    alt = page.locator('[data-item="ALT"]')
    expect(alt.locator(".flag-H")).to_be_visible()
    expect(alt.locator("details.query.state-open")).to_contain_text("3 × ULN")

    # Correct it with a reason for change: the system query closes itself.
    page.fill("#ALT", "30")
    page.fill("#reason", "transcription error: 30, not 200")
    page.click("#save")
    expect(alt.locator("details.query.state-closed")).to_contain_text("closed automatically")
    expect(alt.locator(".flag-H")).to_have_count(0)

    # Adverse events: add a repeating row, save it, then remove it.
    page.goto(record_url(live_app, subject, "LOGS", "AE"))
    page.click("button.add-row")
    page.fill("#AE-0-AETERM", "Pyrexia")
    page.select_option("#AE-0-AETOXGR", "1")
    page.fill("#AE-0-AESTDTC", "2026-01-12")
    page.check('input[name="AE-0-AESER"][value="true"]')
    expect(page.locator('[data-pointer$="/AESERCAT"]')).to_be_visible()
    page.check('input[name="AE-0-AESER"][value="false"]')
    expect(page.locator('[data-pointer$="/AESERCAT"]')).to_be_hidden()
    page.select_option("#AE-0-AERELCAR", "unlikely")
    page.select_option("#AE-0-AERELLD", "not_related")
    page.select_option("#AE-0-AEOUT", "recovering")
    page.click("#save")
    expect(page.locator("#AE-0-AETERM")).to_have_value("Pyrexia")
    page.click("button.remove-row")
    expect(page.locator("#AE-0-AETERM")).to_have_count(0)
    page.fill("#reason", "entered for the wrong subject")
    page.click("#save")
    expect(page.locator("#record-status")).to_have_text("complete")
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    assert "AE" not in staff.get(staff.record_path(subject, "LOGS", "AE")).get_json()["data"]
    assert [e["reason"] for e in staff.get(staff.record_path(subject, "LOGS", "AE") + "/audit").get_json()][-1] == \
        "entered for the wrong subject"


def test_monitor_raises_a_query_sees_the_answer_closes_it_and_verifies(live_app, page):
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-11", "HEIGHT": 170, "WEIGHT": 70, "TEMP": 36.6, "HR": 70,
                                          "SYSBP": 118, "DIABP": 76, "OXYSAT": 98})
    sign_in(page, live_app.base_url, "mon01")
    page.click("#nav-queries")
    expect(page.locator("h1")).to_have_text("Queries")
    page.goto(record_url(live_app, subject, "SCREEN", "VS"))
    weight = page.locator('[data-item="WEIGHT"]')
    weight.locator("details.raise summary").click()
    weight.locator("details.raise textarea").fill("Source shows 72 kg; please check")
    weight.locator("details.raise button").click()
    expect(weight.locator("details.query.state-open")).to_contain_text("Source shows 72 kg")

    query = staff.get(f"/studies/CD7_CART_SAA/queries?subject={subject}").get_json()[0]
    staff.post(f"/studies/CD7_CART_SAA/queries/{query['id']}/replies", {"text": "Checked: 70 kg is right"})
    page.reload()
    expect(weight.locator("details.query.state-answered")).to_contain_text("Checked: 70 kg is right")
    weight.locator("details.query button", has_text="Close query").click()
    expect(weight.locator("details.query.state-closed")).to_be_visible()

    page.click("#verify")
    expect(page.locator("#record-lifecycle")).to_have_text("verified")


def test_investigator_signs_a_visit_then_the_data_manager_locks_and_edits_are_refused(live_app, browser):
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    staff.save(subject, "SCREEN", "ECOG", {"ECOGDTC": "2026-01-11", "ECOG": 1})
    staff.save(subject, "SCREEN", "ECHO", {"ECHODTC": "2026-01-11", "LVEF": 60})

    investigator = browser.new_page()
    sign_in(investigator, live_app.base_url, "inv01")
    investigator.goto(record_url(live_app, subject, "SCREEN", "ECOG"))
    # The visit's other forms are not started and nothing is verified: the dialog lists it and asks why sign anyway.
    for password in ("wrong password", "correct horse battery"):
        investigator.locator("#sign-visit > summary").click()
        expect(investigator.locator('#sign-visit-obstacles li[data-kind="not_started"]').first).to_be_visible()
        investigator.fill("#sign-visit-override", "Screening forms not used at this site")
        investigator.fill("#sign-visit-password", password)
        investigator.click("#sign-visit-submit")
        if password == "wrong password":
            expect(investigator.locator(".flash")).to_contain_text("wrong username or password")
    expect(investigator.locator("#signature")).to_contain_text("Inv01")
    expect(investigator.locator("#signature")).to_contain_text("I attest that I have reviewed the data")
    assert staff.get(staff.record_path(subject, "SCREEN", "ECHO")).get_json()["lifecycle"] == "signed"

    manager = browser.new_page()
    sign_in(manager, live_app.base_url, "dm")
    manager.goto(record_url(live_app, subject, "SCREEN", "ECOG"))
    manager.locator("#lock > summary").click()
    manager.fill("#lock-override", "Locked for the interim analysis")
    manager.click("#lock-submit")
    expect(manager.locator("#locked")).to_be_visible()

    # The data manager exports ODM in the background and downloads it.
    manager.click("#nav-data-management > summary")  # the data manager's tools menu
    manager.click("#nav-exports")
    manager.select_option("#kind", "odm")
    manager.click("#start-export")
    expect(manager.locator('#export-jobs tr[data-state="done"] a.download').first).to_be_visible(timeout=30000)
    with manager.expect_download() as download_info:
        manager.locator('#export-jobs tr[data-state="done"] a.download').first.click()
    downloaded = download_info.value.path().read_bytes()
    assert b'ODMVersion="1.3.2"' in downloaded and subject.encode() in downloaded

    site = browser.new_page()
    sign_in(site, live_app.base_url, "staff01")
    site.goto(record_url(live_app, subject, "SCREEN", "ECOG"))
    expect(site.locator("#record-lifecycle")).to_have_text("locked")
    expect(site.locator('input[name="ECOG"]').first).to_be_disabled()
    expect(site.locator("#save")).to_have_count(0)
    # Even a hand-made request is refused: the server answers 423 and stores nothing.
    token = site.locator('input[name="csrf_token"]').first.get_attribute("value")
    response = site.request.post(record_url(live_app, subject, "SCREEN", "ECOG"),
                                 form={"csrf_token": token, "version": "3", "ECOG": "0", "ECOGDTC": "2026-01-11",
                                       "reason": "try"})
    assert response.status == 423
    assert staff.get(staff.record_path(subject, "SCREEN", "ECOG")).get_json()["data"]["ECOG"] == 1


def test_reports_draw_their_charts_in_the_browser(live_app, page):
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    staff.save(subject, "SCREEN", "IC", {"RFICDTC": "2026-01-05", "ICVER": "1", "ICREAD": True})
    sign_in(page, live_app.base_url, "dm")
    page.click("#nav-reports")
    chart = page.locator("#enrollment img.chart-img")
    expect(chart).to_be_visible()
    assert chart.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.evaluate("() => performance.getEntriesByType('resource')"
                         ".every(r => r.name.startsWith(location.origin) || r.name.startsWith('data:'))")
