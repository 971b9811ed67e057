"""The data manager imports a central lab's file in a real browser: upload, dry-run preview, confirm, refused rows."""

import pytest
from conftest import sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
LAB = ("subject,site,visit,LBDTC,ALT,AST,BILI,CREAT\r\n01-101,01,SCREEN,2026-02-10,30,28,12,80\r\n"
       "01-102,01,SCREEN,2026-02-10,=1+1,28,12,80\r\n")


def test_data_manager_previews_confirms_and_downloads_refused_rows(live_app, page, tmp_path):
    lab = tmp_path / "central-lab.csv"
    lab.write_text(LAB)
    sign_in(page, live_app.base_url, "dm")
    page.goto(f"{live_app.base_url}{STUDY}/subjects")
    page.click("#nav-data-management > summary")  # the data manager's tools menu
    page.click("#nav-imports")
    page.set_input_files("#import-file", str(lab))
    page.select_option("#import-kind", "csv")
    page.select_option("#import-form-oid", "LB_CHEM")
    page.fill("#event_column", "visit")
    page.click("#start-import")

    # The dry run's preview: one row to create, one refused with its reason; nothing written yet.
    expect(page.locator("#import-state")).to_have_attribute("data-state", "done", timeout=30000)
    expect(page.locator('#import-rows tr[data-outcome="created"]')).to_have_count(1)
    expect(page.locator("#import-refusals")).to_contain_text("a spreadsheet formula, not a value")
    page.click("#confirm-import")

    expect(page.locator("#confirm-import")).to_have_count(0)
    expect(page.locator("#import-state")).to_have_attribute("data-state", "done", timeout=30000)
    expect(page.locator("#import-counts")).to_contain_text("1")
    with page.expect_download() as download_info:
        page.click("#download-refused")
    refused = download_info.value.path().read_text(encoding="utf-8-sig").splitlines()
    assert refused[1].startswith("3,01-102,SCREEN,LB_CHEM,/ALT,")

    # The imported subject's chemistry is there, through the write path.
    page.goto(f"{live_app.base_url}{STUDY}/subjects/01-101/events/SCREEN/forms/LB_CHEM")
    expect(page.locator("#record-status")).to_have_text("complete")
