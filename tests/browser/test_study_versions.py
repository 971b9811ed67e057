"""The amendment in a real browser: the data manager uploads version 2.0.0, reads its diff, activates it at one
site, dry-runs and runs the migration; the migrated form shows the retired item read-only. Axe and a phone's width."""

import zipfile

import pytest
from conftest import Api, sign_in
from playwright.sync_api import expect
from test_accessibility import DESKTOP, PHONE, check

from tests.amendment import make_v2

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"


def _zip(folder, target):
    with zipfile.ZipFile(target, "w") as archive:
        for file in folder.rglob("*.json"):
            archive.write(file, f"cd7-v2/{file.relative_to(folder)}")
    return target


def _fits_and_passes(page, name: str) -> list[str]:
    problems = []
    for width in (DESKTOP, PHONE):
        problems += check(page, name, width)
        if width == PHONE and page.evaluate("document.scrollingElement.scrollWidth") > PHONE:
            problems.append(f"{name}: wider than a phone")
    return problems


def test_data_manager_loads_activates_and_migrates_an_amendment(live_app, page, tmp_path):
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register("01")
    saved = staff.save(subject, "APH", "APH", {"APHDTC": "2026-01-05", "APHVOL": 10, "APHCD3": 100, "APHAE": True})
    assert saved.status_code == 201, saved.get_json()
    zipped = _zip(make_v2(tmp_path / "v2"), tmp_path / "cd7-v2.zip")

    sign_in(page, live_app.base_url, "dm")
    page.goto(f"{live_app.base_url}{STUDY}/subjects")
    page.click("#nav-data-management > summary")  # the data manager's tools menu
    page.click("#nav-versions")
    problems = _fits_and_passes(page, "study-versions")
    page.set_input_files("#up-file", str(zipped))
    page.click("#upload")
    expect(page.locator("#check-result")).to_contain_text("2.0.0")
    expect(page.locator("#version-diff")).to_contain_text("form APH item /APHAE: item:")
    expect(page.locator('#loaded-versions tr[data-version="2.0.0"]')).to_have_count(1)
    problems += _fits_and_passes(page, "study-versions-diff")

    page.select_option("#act-version", "2.0.0")
    page.select_option("#act-site", "01")
    page.fill("#act-approved", "2026-01-02")
    page.click("#activate")
    expect(page.locator('#site-versions tr[data-site="01"]')).to_contain_text("2026-01-02")
    expect(page.locator('#site-versions tr[data-site="02"]')).to_contain_text("kept on its version")

    page.select_option("#mig-to", "2.0.0")
    page.select_option("#mig-site", "01")
    page.click("#migrate")  # the dry run is checked by default
    expect(page.locator("#migration-state")).to_have_attribute("data-state", "done", timeout=30000)
    expect(page.locator("#migration-report")).to_contain_text("planned")
    expect(page.locator("#migration-report")).to_contain_text("APHAE")
    problems += _fits_and_passes(page, "migration-dry-run")

    page.goto(f"{live_app.base_url}{STUDY}/versions")
    page.select_option("#mig-to", "2.0.0")
    page.select_option("#mig-site", "01")
    page.fill("#mig-reason", "Amendment 2: apheresis AE moved to the AE log")
    page.uncheck("#mig-dry")
    page.click("#migrate")
    expect(page.locator("#migration-state")).to_have_attribute("data-state", "done", timeout=30000)
    expect(page.locator(f'#migration-report tr[data-subject="{subject}"]')).to_contain_text("migrated")
    with page.expect_download() as download_info:
        page.click("#download-report")
    assert '"migrated": 1' in download_info.value.path().read_text(encoding="utf-8")

    page.context.clear_cookies()
    sign_in(page, live_app.base_url, "staff01")
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{subject}/events/APH/forms/APH")
    expect(page.locator('[data-retired="APHAE"]')).to_have_text("Yes")
    expect(page.locator("#retired-items dt")).to_contain_text("Adverse event during apheresis")  # version 1's label
    expect(page.locator("#record-status")).to_have_text("incomplete")
    problems += _fits_and_passes(page, "form-retired-item")
    assert not problems, "\n".join(problems)
