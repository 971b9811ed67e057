"""The form page never loses work (issue 18): queries in place, reasons only where needed, one round of errors."""

import re
from pathlib import Path

import pytest
from conftest import Api, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "form-page"
CHEM = {"LBDTC": "2026-01-11", "ALT": 200, "AST": 20, "BILI": 10, "CREAT": 70}


def record_url(app, subject, event, form):
    return f"{app.base_url}{STUDY}/subjects/{subject}/events/{event}/forms/{form}"


def staff_api(live_app):
    return Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")


def screenshots(page, name):
    """The page at desktop and phone widths, kept under test-results/ for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def test_answering_a_query_in_place_keeps_the_typed_value(live_app, page):
    staff = staff_api(live_app)
    subject = staff.register()
    staff.save(subject, "SCREEN", "LB_CHEM", CHEM)
    sign_in(page, live_app.base_url, "staff01")
    url = record_url(live_app, subject, "SCREEN", "LB_CHEM")
    page.goto(url)
    alt = page.locator('[data-item="ALT"]')
    expect(alt.locator(".flag-H")).to_have_text("H · ref 7–40 U/L · CTCAE grade 2")
    page.fill("#AST", "25")
    alt.locator("details.query textarea").fill("Source shows 200; lab re-ran the sample")
    alt.locator("details.query button", has_text="Answer").click()
    expect(alt.locator("details.query.state-answered")).to_contain_text("lab re-ran the sample")
    expect(page.locator("#AST")).to_have_value("25")
    assert page.url == url
    screenshots(page, "query-answered")


def test_without_script_a_query_answer_brings_the_page_back_with_the_typed_value_unsaved(live_app, browser):
    staff = staff_api(live_app)
    subject = staff.register()
    staff.save(subject, "SCREEN", "LB_CHEM", CHEM)
    page = browser.new_context(java_script_enabled=False).new_page()
    sign_in(page, live_app.base_url, "staff01")
    page.goto(record_url(live_app, subject, "SCREEN", "LB_CHEM"))
    page.fill("#AST", "25")
    alt = page.locator('[data-item="ALT"]')
    alt.locator("details.query textarea").fill("Confirmed with the lab")
    alt.locator("details.query button", has_text="Answer").click()
    expect(page.locator("#unsaved-notice")).to_contain_text("not saved yet")
    expect(page.locator("#AST")).to_have_value("25")
    expect(alt.locator("details.query.state-answered")).to_contain_text("Confirmed with the lab")
    assert staff.get(staff.record_path(subject, "SCREEN", "LB_CHEM")).get_json()["data"]["AST"] == 20


def test_a_reason_is_asked_once_only_when_a_saved_value_changes(live_app, page):
    staff = staff_api(live_app)
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-11", "WEIGHT": 70})
    sign_in(page, live_app.base_url, "staff01")
    page.goto(record_url(live_app, subject, "SCREEN", "VS"))
    page.fill("#HEIGHT", "170")  # first entry of a blank item: no reason
    page.click("#save")
    expect(page.locator(".flash")).to_contain_text("Saved")
    expect(page.locator("#reason-dialog")).to_be_hidden()

    page.fill("#WEIGHT", "72")
    page.fill("#HEIGHT", "")
    page.click("#save")
    dialog = page.locator("#reason-dialog")
    expect(dialog).to_be_visible()
    changed = dialog.locator("#reason-changes li")
    expect(changed).to_have_text(["Height: 170 → (empty)", "Weight: 70 → 72"])  # in form order
    page.click("#reason-confirm")
    expect(page.locator("#reason-dialog-error")).to_be_visible()
    dialog.get_by_label("Transcription error").check()
    screenshots(page, "reason-dialog")
    page.click("#reason-confirm")
    expect(page.locator(".flash")).to_contain_text("Saved")
    audit = staff.get(staff.record_path(subject, "SCREEN", "VS") + "/audit").get_json()
    assert [e["reason"] for e in audit] == [None, None, "Transcription error"]


def test_every_fault_is_reported_in_one_round_by_label_and_linked_to_its_field(live_app, page):
    staff = staff_api(live_app)
    subject = staff.register()
    sign_in(page, live_app.base_url, "staff01")
    page.goto(record_url(live_app, subject, "SCREEN", "VS"))
    expect(page.locator('[data-item="HEIGHT"] .hint')).to_have_text("Allowed 50–250 cm")
    page.evaluate("document.getElementById('HEIGHT').type = 'text'")  # a value no number field would let through
    page.fill("#HEIGHT", "tall")
    page.fill("#WEIGHT", "5")
    page.fill("#TEMP", "50")
    page.click("#save")
    summary = page.locator("#error-summary")
    expect(summary).to_have_attribute("role", "alert")
    links = summary.locator("a")
    expect(links).to_have_count(3)
    texts = links.all_inner_texts()
    assert [t.split(":")[0] for t in texts] == ["Height", "Weight", "Temperature"], texts
    assert not any("/" in t.split(":")[0] for t in texts)
    expect(page.locator('[data-item="WEIGHT"] .field-error')).to_be_visible()
    screenshots(page, "error-summary")
    links.nth(1).click()
    expect(page.locator("#WEIGHT")).to_be_focused()


def test_enter_in_a_text_field_never_submits(live_app, page):
    subject = staff_api(live_app).register()
    sign_in(page, live_app.base_url, "staff01")
    page.goto(record_url(live_app, subject, "SCREEN", "VS"))
    page.fill("#WEIGHT", "70")
    page.press("#WEIGHT", "Enter")
    page.wait_for_timeout(300)
    expect(page.locator("#record-status")).to_have_text("Nothing saved yet")
    expect(page.locator("#WEIGHT")).to_have_value("70")


def test_hiding_an_answered_item_asks_first_and_cancelling_restores_the_answer(live_app, page):
    subject = staff_api(live_app).register()
    sign_in(page, live_app.base_url, "staff01")
    page.goto(record_url(live_app, subject, "SCREEN", "DM"))
    page.check('input[name="SEX"][value="F"]')
    page.check('input[name="CHILDPOT"][value="true"]')
    messages = []
    page.once("dialog", lambda d: (messages.append(d.message), d.dismiss()))
    page.click('input[name="SEX"][value="M"]')  # cancelled: the answer stays F
    assert "clears its value" in messages[0] and "audit" in messages[0]
    expect(page.locator('input[name="SEX"][value="F"]')).to_be_checked()
    expect(page.locator('input[name="CHILDPOT"][value="true"]')).to_be_checked()
    page.once("dialog", lambda d: d.accept())
    page.check('input[name="SEX"][value="M"]')
    expect(page.locator('[data-item="CHILDPOT"]')).to_be_hidden()
    expect(page.locator('input[name="CHILDPOT"][value="true"]')).not_to_be_checked()


def test_save_and_next_opens_the_next_form_of_the_event_and_leaving_unsaved_work_is_guarded(live_app, page):
    subject = staff_api(live_app).register()
    sign_in(page, live_app.base_url, "staff01")
    page.goto(record_url(live_app, subject, "SCREEN", "VS"))
    page.fill("#WEIGHT", "70")
    asked = []
    page.once("dialog", lambda d: (asked.append(d.type), d.dismiss()))
    page.locator("nav[aria-label=Breadcrumb] a").first.click()
    page.wait_for_timeout(300)
    assert asked == ["beforeunload"] and page.url.endswith("/forms/VS")
    page.click("#save-next")
    expect(page).to_have_url(record_url(live_app, subject, "SCREEN", "ECOG"))
    page.click("#save-grid")
    expect(page).to_have_url(f"{live_app.base_url}{STUDY}/subjects/{subject}")


def test_the_form_page_speaks_chinese_in_its_summary_hints_flags_and_buttons(live_app, page):
    staff = staff_api(live_app)
    subject = staff.register()
    staff.save(subject, "SCREEN", "LB_CHEM", CHEM)
    sign_in(page, live_app.base_url, "staff01")
    page.goto(f"{live_app.base_url}/lang/zh")
    page.goto(record_url(live_app, subject, "SCREEN", "LB_CHEM"))
    expect(page.locator('[data-item="ALT"] .flag-H')).to_have_text("H · 参考范围 7–40 U/L · CTCAE 分级 2")
    expect(page.locator('[data-item="ALT"] .hint')).to_have_text("允许范围 0–20000 U/L")
    expect(page.locator("#save-next")).to_have_text("保存并进入下一表单")
    page.fill("#ALT", "30")
    page.click("#save")
    expect(page.locator("#reason-dialog")).to_contain_text("以下已保存的值将被修改")
    expect(page.locator("#reason-changes li")).to_have_text(["丙氨酸氨基转移酶: 200 → 30"])
    screenshots(page, "reason-dialog-zh")


def test_derived_numbers_show_two_decimals_while_the_stored_bsa_keeps_its_precision(live_app, page):
    staff = staff_api(live_app)
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-11", "HEIGHT": 170, "WEIGHT": 70})
    staff.save(subject, "D0", "INF", {"INFDTC": "2026-04-06T09:00:00+08:00", "LOT": "L1", "WEIGHT_BASIS": 70,
                                      "CAR_CELLS": 2.1e8, "PREMED": True, "INFREACT": False})
    sign_in(page, live_app.base_url, "staff01")
    page.goto(record_url(live_app, subject, "SCREEN", "VS"))
    bsa = page.locator('[data-derived="BSA"]')
    expect(bsa).to_have_text("1.82 m²")
    expect(bsa).to_have_attribute("data-value", "1.8181")
    assert staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()["derived"]["BSA"] == 1.8181
    page.goto(record_url(live_app, subject, "D0", "INF"))
    expect(page.locator('[data-derived="DOSE_PER_KG"]')).to_have_text("3.00 × 10⁶ cells/kg")


def test_missing_required_items_of_a_row_are_named_by_label_and_linked(live_app, page):
    staff = staff_api(live_app)
    subject = staff.register()
    staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "Pyrexia", "AETOXGR": 1, "AESTDTC": "2026-01-12",
                                               "AESER": False}]})
    sign_in(page, live_app.base_url, "staff01")
    page.goto(record_url(live_app, subject, "LOGS", "AE"))
    missing = page.locator("p.missing")
    expect(missing).not_to_contain_text("/AE/")
    first = missing.locator("a").first
    label = page.locator('[data-item="AERELCAR"]').first.get_attribute("data-label")
    expect(first).to_contain_text(f"1: {label}")
    first.click()
    target = page.evaluate("location.hash")
    assert target.startswith("#item-AE-0-")
    expect(page.locator(target)).to_be_visible()


WORDS = {  # what each step must say, in each language
    "en": {"answer": "Answer", "hide": "clears its value", "next": "Save and next form",
           "summary": "There is a problem", "menu": "Menu", "unsaved": "not saved yet"},
    "zh": {"answer": "回复", "hide": "将清除其值", "next": "保存并进入下一表单", "summary": "存在问题", "menu": "菜单",
           "unsaved": "尚未保存"},
}


def fits_a_phone(page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1366, "height": 900})


def panel_shots(page, locator, name):
    """The query panel alone at both widths, for a person to look at closely."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        locator.screenshot(path=str(SHOTS / f"{name}-{width}.png"))
    page.set_viewport_size({"width": 1366, "height": 900})


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_walkthrough_of_issue_18_at_both_widths_in_each_language(live_app, page, browser, lang):
    """Each part of issue 18 as site staff meet it, screenshots at 1366 and 390 px kept under test-results/."""
    words, staff = WORDS[lang], staff_api(live_app)
    subject = staff.register()
    staff.save(subject, "SCREEN", "LB_CHEM", CHEM)
    sign_in(page, live_app.base_url, "staff01")
    page.goto(f"{live_app.base_url}/lang/{lang}")
    # Flags beside the value; a query answered in place keeps what was typed.
    page.goto(record_url(live_app, subject, "SCREEN", "LB_CHEM"))
    alt = page.locator('[data-item="ALT"]')
    expect(alt.locator(".flag-H")).to_contain_text("7–40 U/L")
    page.fill("#AST", "25")
    alt.locator("details.query textarea").fill("Source checked")
    alt.locator("details.query button", has_text=words["answer"]).first.click()
    expect(alt.locator("details.query.state-answered")).to_contain_text("Source checked")
    expect(alt.locator("details.query.state-answered")).to_contain_text("CST")  # site time with its zone
    expect(page.locator("#AST")).to_have_value("25")
    screenshots(page, f"walk-{lang}-form-flags-query")
    panel_shots(page, alt.locator(".query-panel"), f"walk-{lang}-query-panel")
    fits_a_phone(page)
    # The reason dialog lists the saved value changed.
    page.click("#save")
    expect(page.locator("#reason-dialog")).to_be_visible()
    screenshots(page, f"walk-{lang}-reason-dialog")
    page.locator("#reason-dialog button", has_text="Cancel" if lang == "en" else "取消").click()
    # One round of errors, by label, before anything is saved.
    fresh = staff.register()
    page.goto(record_url(live_app, fresh, "SCREEN", "VS"))
    page.fill("#WEIGHT", "5")
    page.fill("#TEMP", "50")
    page.click("#save")
    expect(page.locator("#error-summary")).to_contain_text(words["summary"])
    expect(page.locator("#error-summary a")).to_have_count(2)
    screenshots(page, f"walk-{lang}-errors")
    fits_a_phone(page)
    # Hiding an answered item asks first, in the reader's language.
    page.goto(record_url(live_app, fresh, "SCREEN", "DM"))
    page.check('input[name="SEX"][value="F"]')
    page.check('input[name="CHILDPOT"][value="true"]')
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    page.click('input[name="SEX"][value="M"]')
    expect(page.locator('[data-item="CHILDPOT"]')).to_be_hidden()
    assert words["hide"] in asked[0], asked
    # Save and next form, then the grid.
    page.goto(record_url(live_app, fresh, "SCREEN", "VS"))
    page.fill("#WEIGHT", "70")
    expect(page.locator("#save-next")).to_have_text(words["next"])
    page.click("#save-next")
    expect(page).to_have_url(record_url(live_app, fresh, "SCREEN", "ECOG"))
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{subject}")
    expect(page.locator("#subject-grid")).to_be_visible()
    screenshots(page, f"walk-{lang}-grid")
    fits_a_phone(page)
    # The header folds into a menu at 390 px.
    page.set_viewport_size({"width": 390, "height": 844})
    toggle = page.locator(".menu-toggle")
    expect(toggle).to_contain_text(words["menu"])
    toggle.click()
    expect(page.locator("#nav-queries")).to_be_visible()
    page.screenshot(path=str(SHOTS / f"walk-{lang}-menu-390.png"))
    page.set_viewport_size({"width": 1366, "height": 900})
    # Without script, answering a query brings the page back with the typed value, unsaved.
    context = browser.new_context(java_script_enabled=False)
    plain = context.new_page()
    sign_in(plain, live_app.base_url, "staff01")
    plain.goto(f"{live_app.base_url}/lang/{lang}")
    plain.goto(record_url(live_app, subject, "SCREEN", "LB_CHEM"))
    plain.fill("#AST", "26")
    plain.locator('[data-item="ALT"] details.query textarea').first.fill("Checked again")
    plain.locator('[data-item="ALT"] details.query button', has_text=words["answer"]).first.click()
    expect(plain.locator("#unsaved-notice")).to_contain_text(words["unsaved"])
    expect(plain.locator("#AST")).to_have_value("26")
    screenshots(plain, f"walk-{lang}-no-script")
    context.close()


def test_a_monitor_raises_and_closes_a_query_in_place_and_a_closed_query_is_no_longer_flagged(live_app, page):
    staff = staff_api(live_app)
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-11", "WEIGHT": 70})
    sign_in(page, live_app.base_url, "mon01")
    url = record_url(live_app, subject, "SCREEN", "VS")
    page.goto(url)
    weight = page.locator('[data-item="WEIGHT"]')
    weight.locator("details.raise summary").click()
    weight.locator("details.raise textarea").fill("Weight differs from the clinic note")
    weight.locator("details.raise button").click()
    expect(weight.locator("details.query.state-open")).to_contain_text("Weight differs from the clinic note")
    expect(weight).to_have_class(re.compile(r"\bhas-query\b"))
    expect(weight.locator(".qcount")).to_contain_text("1 open query")
    weight.locator("details.query button", has_text="Close query").click()
    expect(weight.locator("details.query.state-closed")).to_have_count(1)
    expect(weight.locator(".qcount")).to_have_count(0)
    expect(weight).not_to_have_class(re.compile(r"\bhas-query\b"))
    assert page.url == url
    page.reload()  # the page as served agrees: a closed query keeps its thread, not its flag
    expect(weight).not_to_have_class(re.compile(r"\bhas-query\b"))
    expect(weight.locator("details.query.state-closed")).to_have_count(1)


def test_a_lab_flag_is_text_beside_the_value_that_screen_readers_are_given(live_app, page):
    staff = staff_api(live_app)
    subject = staff.register()
    staff.save(subject, "SCREEN", "LB_CHEM", CHEM)
    sign_in(page, live_app.base_url, "staff01")
    page.goto(record_url(live_app, subject, "SCREEN", "LB_CHEM"))
    flag = page.locator("#flags-ALT")
    expect(flag).to_be_visible()
    expect(flag).to_have_text("H · ref 7–40 U/L · CTCAE grade 2")
    assert "flags-ALT" in page.locator("#ALT").get_attribute("aria-describedby").split()
    box, value = flag.bounding_box(), page.locator("#ALT").bounding_box()
    assert box["y"] < value["y"] + value["height"] and box["y"] + box["height"] > value["y"]  # on the value's line
