"""The subject grid and list in a real browser: statuses, links, screen failure, 390 px; screenshots kept."""


import pytest
from axe import shot
from conftest import OVERRIDDEN, Api, sign_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
STUDY = "/studies/CD7_CART_SAA"
VS = {"VSDTC": "2026-01-11", "HEIGHT": 170, "WEIGHT": 70, "TEMP": 36.6, "HR": 70, "SYSBP": 118, "DIABP": 76,
      "OXYSAT": 98}


@pytest.fixture(scope="module")
def enrolled(live_app):
    """A subject infused on 2026-04-06 with screening data at several stages of review and a query open."""
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    for event, form, data in (
        ("SCREEN", "VS", VS), ("SCREEN", "ECOG", {"ECOGDTC": "2026-01-11", "ECOG": 1}),
        ("SCREEN", "ECHO", {"ECHODTC": "2026-01-11"}),  # LVEF missing: incomplete
        ("D0", "INF", {"INFDTC": "2026-04-06T09:00:00+08:00", "LOT": "L1", "WEIGHT_BASIS": 70, "CAR_CELLS": 2.1e8,
                       "PREMED": True, "INFREACT": False}),
    ):
        assert staff.save(subject, event, form, data).status_code == 201
    monitor = Api(live_app.test_client(), live_app.tokens["mon01"], "CD7_CART_SAA")
    monitor.post(staff.record_path(subject, "SCREEN", "VS") + "/sdv", {})
    monitor.post(f"{STUDY}/queries", {"subject": subject, "event": "SCREEN", "form": "ECOG", "item": "/ECOG",
                                     "text": "Please check against the clinic note"})
    dm = Api(live_app.test_client(), live_app.tokens["dm"], "CD7_CART_SAA")
    dm.post(staff.record_path(subject, "SCREEN", "ECOG") + "/lock", OVERRIDDEN)
    return subject


def test_the_grid_shows_each_cells_status_in_words_with_queries_and_links_to_the_form(live_app, page, enrolled):
    sign_in(page, live_app.base_url, "staff01")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{enrolled}")
    grid = page.locator("#subject-grid")
    vs = grid.locator('tr[data-form="VS"] td[data-event="SCREEN"]')
    expect(vs).to_contain_text("Verified")
    ecog = grid.locator('tr[data-form="ECOG"] td[data-event="SCREEN"]')
    expect(ecog).to_contain_text("Locked")
    expect(ecog.locator(".qcount")).to_contain_text("1")
    expect(grid.locator('tr[data-form="ECHO"] td[data-event="SCREEN"]')).to_contain_text("Incomplete")
    expect(grid.locator('tr[data-form="INF"] td[data-event="D0"]')).to_contain_text("Complete")
    expect(grid.locator('tr[data-form="IE"] td[data-event="SCREEN"]')).to_contain_text("Not started")
    expect(grid.locator('tr[data-form="INF"] td[data-event="SCREEN"]')).to_have_class("none")
    # Day 21 is planned 21 days after the infusion, its window ±2 days.
    d21 = grid.locator('th[data-event="D21"]')
    expect(d21).to_contain_text("2026-04-27")
    expect(d21).to_contain_text("04-25 – 04-29")
    legend = page.locator("#grid-legend")
    for word in ("Not started", "Incomplete", "Complete", "Verified", "Signed", "Locked"):
        expect(legend).to_contain_text(word)
    assert "not_started" not in legend.inner_text()
    shot(page, "subject-grid-1366")
    # The header row and the form column stay in view while the grid scrolls.
    scroller = page.locator("#grid-scroll")
    scroller.evaluate("el => { el.scrollLeft = 2000; el.scrollTop = 2000; }")
    frame = scroller.bounding_box()
    assert abs(grid.locator('tr[data-form="DEATH"] th').bounding_box()["x"] - frame["x"]) < 3
    assert abs(grid.locator('th[data-event="M36"]').bounding_box()["y"] - frame["y"]) < 3
    shot(page, "subject-grid-1366-scrolled")
    scroller.evaluate("el => { el.scrollLeft = 0; el.scrollTop = 0; }")
    vs.locator("a").click()
    expect(page).to_have_url(f"{live_app.base_url}{STUDY}/subjects/{enrolled}/events/SCREEN/forms/VS")


def test_at_390_px_only_the_grid_scrolls_sideways_and_its_first_column_stays(live_app, page, enrolled):
    sign_in(page, live_app.base_url, "staff01")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{enrolled}")
    scroller = page.locator("#grid-scroll")
    widths = scroller.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert widths[0] > widths[1] * 3  # the grid is wide, its container is not
    assert scroller.bounding_box()["width"] <= 390
    shot(page, "subject-grid-390")
    scroller.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    box = page.locator('#subject-grid tr[data-form="VS"] th').bounding_box()
    assert abs(box["x"] - scroller.bounding_box()["x"]) < 3 and box["width"] < 140
    shot(page, "subject-grid-390-scrolled")


def test_a_screen_failure_shows_on_the_grid_and_the_list(live_app, page):
    staff = Api(live_app.test_client(), live_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register()
    staff.save(subject, "SCREEN", "IC", {"RFICDTC": "2026-01-10", "ICVER": "1", "ICREAD": True})
    staff.save(subject, "SCREEN", "DM", {"BRTHDTC": "2009-03-01", "SEX": "M", "ETHNIC": "HAN", "NATION": "CN"})
    sign_in(page, live_app.base_url, "staff01")
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{subject}/events/SCREEN/forms/IE")
    page.fill("#IEDTC", "2026-01-12")
    page.check('input[name="IN01"][value="false"]')
    page.click("#save")
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{subject}")
    expect(page.locator("#subject-status")).to_have_text("Screen failed")
    expect(page.locator('#subject-grid tr[data-form="IE"] td[data-event="SCREEN"]')).to_contain_text("Incomplete")
    page.goto(f"{live_app.base_url}{STUDY}/subjects")
    row = page.locator(f'#subject-list tr[data-subject="{subject}"]')
    expect(row.locator(".subject-status")).to_have_text("Screen failed")
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        shot(page, f"subject-list-{width}")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_app.base_url}/lang/zh")
    page.goto(f"{live_app.base_url}{STUDY}/subjects/{subject}")
    expect(page.locator("#subject-status")).to_have_text("筛选失败")
    expect(page.locator("#grid-legend")).to_contain_text("未开始")
    shot(page, "subject-grid-zh-1366")
