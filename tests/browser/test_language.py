"""The interface in Chinese in a real browser: every page type, for every role, shows no English interface word.

Data stays as entered (a term typed in English, a unit, a code); the words the interface itself says, its
validation messages and its charts' titles, axes and legends are all Chinese. Screenshots kept.
"""

import base64
import re
from pathlib import Path

import pytest
from conftest import Api, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "i18n"
WIDTHS = (1366, 390)
ROLES = ["staff01", "mon01", "inv01", "dm", "root"]

# Interface words seen in English on the Chinese pages (issue 18) or that the pages and charts say.
ENGLISH = [
    "Save", "Cancel", "Subjects", "Queries", "Reports", "Exports", "Imports", "Home", "Sign out", "Status",
    "Forbidden", "Not found", "Not Found", "may not", "Open", "Answered", "Closed", "Legend", "Not started",
    "Incomplete", "Complete", "Verified", "Signed", "Locked", "Enrolled", "screening", "Screen failed",
    "Missing required items", "History", "Answer", "Raise query", "Confirm value", "Value confirmed",
    "Reason for change", "Derived values", "greater than", "less than", "not of type", "does not match",
    "Not a valid", "is required", "query_opened", "query_answered", "with audit trail", "one file per form",
    "one row per subject", "both", "site_staff", "data_manager", "Allowed", "At least", "At most", "ref", "grade",
    "day after infusion", "days after infusion", "subjects", "cumulative", "censored", "probability", "median",
    "interquartile", "infused", "not assessed", "at risk", "open queries", "chart", "Chart", "Technical details",
    "Previous", "Next", "Version", "Event", "Form", "Item", "Days open", "Password", "Language",
]
SAYS_ENGLISH = re.compile(r"\b(" + "|".join(map(re.escape, ENGLISH)) + r")\b")
# What a person reads besides the page's text: names given to controls, option texts, and the charts' words
# (matplotlib writes each text of an SVG chart as a comment beside its drawn glyphs).
# Values shown as they were stored (the audit trail's old and new) are data, not interface words.
READ_TEXTS = """() => [(() => {
    const stored = [...document.querySelectorAll('.stored')].filter((e) => !e.hidden);
    stored.forEach((e) => { e.hidden = true; });
    const text = document.body.innerText;
    stored.forEach((e) => { e.hidden = false; });
    return text; })(),
  ...[...document.querySelectorAll('[title],[aria-label],[placeholder],[alt]')].map((e) =>
      [e.getAttribute('title'), e.getAttribute('aria-label'), e.getAttribute('placeholder'), e.getAttribute('alt')]
      .filter(Boolean).join(' ')),
  ...[...document.querySelectorAll('option')].map((o) => o.textContent),
  ...[...document.querySelectorAll('img[src^="data:image/svg+xml;base64,"]')].map((i) => 'SVG:' + i.src.split(',')[1]),
].join('\\n')"""


def _shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def english_on(page) -> list[str]:
    """The known English interface words the page shows (charts' words included), each with its context."""
    found = []
    for line in page.evaluate(READ_TEXTS).splitlines():
        if line.startswith("SVG:"):
            svg = base64.b64decode(line[4:]).decode("utf-8")
            line = " | ".join(re.findall(r"<!-- (.*?) -->", svg))
        found += [line[max(0, m.start() - 30):m.end() + 30] for m in SAYS_ENGLISH.finditer(line)]
    return found


@pytest.fixture(scope="module")
def subject(live_app):
    """A site-01 subject infused on day 0, with out-of-range chemistry (a query), counts, CRS, an adverse event,
    a monitor's query and a soft-check query confirmed from the form page."""
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    saves = [
        staff.save(subject, "SCREEN", "LB_CHEM", {"LBDTC": "2026-01-11", "ALT": 200, "AST": 20, "BILI": 10,
                                                  "CREAT": 70}),
        staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-11", "HEIGHT": 170, "WEIGHT": 70}),
        staff.save(subject, "SCREEN", "LB_HEM", {"LBDTC": "2026-01-11", "HGB": 70, "WBC": 2.0, "NEUT": 0.4,
                                                 "LYM": 0.8, "PLAT": 15, "RETI": 20}),
        staff.save(subject, "D0", "INF", {"INFDTC": "2026-04-06T09:00:00+08:00", "LOT": "L1", "WEIGHT_BASIS": 70,
                                          "CAR_CELLS": 2.1e8, "PREMED": True, "INFREACT": False}),
        staff.save(subject, "D1", "CRS", {"CRSDTC": "2026-04-07", "TEMP_MAX": 38.6, "HYPOTENSION": "none",
                                          "O2_DEVICE": "room_air", "ANTICYTOKINE_GIVEN": False}),
        staff.save(subject, "LOGS", "AE", {"AE": [
            {"AETERM": "Pyrexia", "AETOXGR": 1, "AESTDTC": "2026-04-07", "AESER": False, "AEOUT": "recovering"}]}),
    ]
    assert all(response.status_code < 300 for response in saves), [r.get_json() for r in saves if r.status_code >= 300]
    monitor = Api(live_app.test_client(), live_app.tokens["mon01"], "CD7_CART_SAA")
    monitor.post(f"{STUDY}/queries", {"subject": subject, "event": "SCREEN", "form": "VS", "item": "/WEIGHT",
                                     "text": "Please check against the clinic note"})
    return subject


def pages(subject: str) -> dict[str, str]:
    """Page type -> path: every page a signed-in person can reach (a refused one shows the error page)."""
    record = f"{STUDY}/subjects/{subject}/events"
    return {
        "home": "/", "subjects": f"{STUDY}/subjects", "subject": f"{STUDY}/subjects/{subject}",
        "form-IE": f"{record}/SCREEN/forms/IE", "form-AE": f"{record}/LOGS/forms/AE",
        "form-LB": f"{record}/SCREEN/forms/LB_CHEM", "form-VS": f"{record}/SCREEN/forms/VS",
        "form-INF": f"{record}/D0/forms/INF", "form-audit": f"{record}/SCREEN/forms/VS/audit",
        "queries": f"{STUDY}/queries", "reports": f"{STUDY}/reports", "exports": f"{STUDY}/exports",
        "imports": f"{STUDY}/imports", "ranges": f"{STUDY}/ranges", "broken-checks": f"{STUDY}/checks/broken",
        "audit": f"{STUDY}/subjects/{subject}/audit", "admin": "/admin/", "password": "/account/password",
        "error": f"{STUDY}/subjects/NO-SUCH-SUBJECT",
    }


def test_the_english_word_finder_sees_page_text_option_texts_and_chart_words(page):
    chart = base64.b64encode(b"<svg><!-- day after infusion --><!-- 2 --></svg>").decode()
    page.set_content(f'<html lang="zh"><body><p>保存</p><select><option>both</option></select>'
                     f'<img alt="图表" src="data:image/svg+xml;base64,{chart}"></body></html>')
    found = english_on(page)
    assert set(found) == {"both", "day after infusion | 2"}, found


@pytest.mark.parametrize("person", ROLES)
def test_every_page_shows_no_english_interface_word_in_chinese(live_app, page, subject, person):
    sign_in(page, live_app.base_url, person)
    page.goto(f"{live_app.base_url}/lang/zh")
    found = {}
    for name, path in pages(subject).items():
        page.goto(f"{live_app.base_url}{path}")
        expect(page.locator("html")).to_have_attribute("lang", "zh")
        if english := english_on(page):
            found[name] = english
    assert not found, found


def test_the_form_pages_faults_and_a_confirmed_value_are_chinese(live_app, page, subject):
    sign_in(page, live_app.base_url, "staff01")
    page.goto(f"{live_app.base_url}/lang/zh")
    url = f"{live_app.base_url}{STUDY}/subjects/{subject}/events/SCREEN/forms/LB_CHEM"
    page.goto(url)
    alt = page.locator('[data-item="ALT"]')
    alt.locator("details.query button", has_text="确认数值").click()
    expect(alt.locator("details.query.state-answered")).to_contain_text("数值已按录入确认")
    fresh = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA").register()
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{fresh}/events/SCREEN/forms/VS")
    page.evaluate("document.getElementById('HEIGHT').type = 'text'")
    page.fill("#HEIGHT", "很高")  # not a number
    page.fill("#TEMP", "50")  # above the physical bound
    page.click("#save")
    summary = page.locator("#error-summary")
    expect(summary.locator("a")).to_have_count(2)
    expect(summary).to_contain_text("50 大于最大值 45")
    assert not english_on(page), english_on(page)
    _shoot(page, "form-errors-zh")
    # Each reader sees the confirmation in their own language.
    page.goto(f"{live_app.base_url}/lang/en")
    page.goto(url)
    expect(alt.locator("details.query.state-answered")).to_contain_text("Value confirmed as entered.")


def test_reports_charts_speak_chinese_and_queries_show_site_time(live_app, page, subject):
    sign_in(page, live_app.base_url, "dm")
    page.click("text=中文")
    page.goto(f"{live_app.base_url}{STUDY}/queries?subject={subject}")
    row = page.locator("tr[data-query]", has_text="Please check against the clinic note")  # the monitor's, open
    expect(row.locator("td.state")).to_have_text("开放")
    expect(row.locator("td.opened")).to_contain_text("CST")  # site 01 keeps Asia/Shanghai time
    expect(page.locator("h1")).to_have_text("质疑")
    _shoot(page, "queries-zh")
    page.goto(f"{live_app.base_url}{STUDY}/reports")
    charts = page.locator('img.chart-img[alt="图表"]')
    assert charts.count() >= 4
    words = page.evaluate(READ_TEXTS)
    chart_words = " ".join(" ".join(re.findall(r"<!-- (.*?) -->", base64.b64decode(line[4:]).decode()))
                           for line in words.splitlines() if line.startswith("SVG:"))
    assert "输注后天数" in chart_words and "受试者" in chart_words, chart_words
    _shoot(page, "reports-zh")
    for name, heading in (("exports", "导出"), ("ranges", "参考范围")):
        page.goto(f"{live_app.base_url}{STUDY}/{name}")
        expect(page.locator("h1").first).to_have_text(heading)
        _shoot(page, f"{name}-zh")
