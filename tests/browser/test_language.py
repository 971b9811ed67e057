"""The interface in Chinese in a real browser: the queries list, reports, exports and ranges; screenshots kept."""

from pathlib import Path

import pytest
from conftest import Api, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "i18n"
WIDTHS = (1366, 390)


def _shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


def test_a_data_manager_reading_chinese_sees_chinese_query_states_and_site_times(live_app, page):
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    staff.save(subject, "SCREEN", "LB_CHEM", {"LBDTC": "2026-01-11", "ALT": 200, "AST": 20, "BILI": 10, "CREAT": 70})
    sign_in(page, live_app.base_url, "dm")
    page.click("text=中文")
    page.goto(f"{live_app.base_url}{STUDY}/queries?subject={subject}")
    row = page.locator("tr[data-query]").first
    expect(row.locator("td.state")).to_have_text("开放")
    expect(row.locator("td.opened")).to_contain_text("CST")  # site 01 keeps Asia/Shanghai time
    expect(page.locator("h1")).to_have_text("质疑")
    _shoot(page, "queries-zh")
    for name, heading in (("reports", "报表"), ("exports", "导出"), ("ranges", "参考范围")):
        page.goto(f"{live_app.base_url}{STUDY}/{name}")
        expect(page.locator("h1").first).to_have_text(heading)
        _shoot(page, f"{name}-zh")
