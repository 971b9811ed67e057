"""Source documents in the browser (issue 22): site staff attach a lab report, a monitor opens it during SDV."""

import hashlib
from pathlib import Path

import pytest
from axe import blocking, describe, violations
from conftest import Api, sign_in
from documents import image_bytes, pdf_bytes
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "attachments"
CHEM = {"LBDTC": "2026-01-11", "ALT": 30, "AST": 20, "BILI": 10, "CREAT": 70}


def screenshots(page, name):
    """The page at desktop and phone widths, kept under test-results/ for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def test_site_attaches_a_report_to_an_item_and_the_monitor_downloads_it(live_app, browser, tmp_path):
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    staff.save(subject, "SCREEN", "LB_CHEM", CHEM)
    url = f"{live_app.base_url}{STUDY}/subjects/{subject}/events/SCREEN/forms/LB_CHEM"
    report = tmp_path / "chemistry report.pdf"
    report.write_bytes(pdf_bytes("ALT 30 U/L"))

    site = browser.new_context().new_page()
    sign_in(site, live_app.base_url, "staff01")
    site.goto(url)
    site.set_input_files("#attach-file", str(report))
    site.select_option("#attach-item", label="ALT")
    site.click("#attach-submit")
    expect(site.locator(".flash")).to_contain_text("chemistry report.pdf")
    row = site.locator("#attachments tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("ALT")
    expect(row.locator("code")).to_have_attribute("title", hashlib.sha256(report.read_bytes()).hexdigest())
    found = blocking(violations(site))
    assert not found, describe(found)
    site.locator("#attachments").scroll_into_view_if_needed()
    screenshots(site, "form-with-attachment")

    fake = tmp_path / "scan.pdf"
    fake.write_bytes(image_bytes("PNG"))
    site.set_input_files("#attach-file", str(fake))
    site.click("#attach-submit")
    expect(site.locator(".flash")).to_contain_text("named as a PDF document but is a PNG image")
    expect(row).to_have_count(1)

    monitor = browser.new_context(accept_downloads=True).new_page()
    sign_in(monitor, live_app.base_url, "mon01")
    monitor.goto(url)
    expect(monitor.locator("#attach-form")).to_have_count(0)  # monitors view, they do not attach
    with monitor.expect_download() as download:
        monitor.locator("#attachments tbody a", has_text="chemistry report.pdf").click()
    assert download.value.suggested_filename == "chemistry report.pdf"
    assert Path(download.value.path()).read_bytes() == report.read_bytes()


def test_removing_a_file_needs_a_reason_and_lists_it_as_removed(live_app, page, tmp_path):
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    url = f"{live_app.base_url}{STUDY}/subjects/{subject}/events/SCREEN/forms/LB_CHEM"
    photo = tmp_path / "ecg.jpg"
    photo.write_bytes(image_bytes("JPEG"))
    sign_in(page, live_app.base_url, "staff01")
    page.goto(url)
    page.set_input_files("#attach-file", str(photo))
    page.click("#attach-submit")
    page.locator("#attachments details summary", has_text="Remove").click()
    page.locator("#attachments details input[name=reason]").fill("Belongs to another visit")
    page.locator("#attachments details button", has_text="Remove file").click()
    expect(page.locator(".flash")).to_contain_text("File removed")
    expect(page.locator("#no-attachments")).to_be_visible()
    page.locator("#removed-attachments summary").click()
    expect(page.locator("#removed-attachments")).to_contain_text("Belongs to another visit")
