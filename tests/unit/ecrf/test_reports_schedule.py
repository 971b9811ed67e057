"""Reports against the schedule: forms expected by today at the window boundaries, completeness per subject
and site, the ORR's intention-to-treat denominator, whole-number count axes and an empty state for each report."""

import datetime as dt
import re

import pytest
from conftest import login

STUDY = "CD7_CART_SAA"
DAY0 = dt.date(2026, 3, 2)
SCREEN, APH, LD, D0, D21, M3 = 12, 2, 5, 8, 7, 7  # forms of each event in the bundled schedule
D1_TO_D14 = 6 + 5 + 6 + 6 + 6 + 5 + 7 + 5 + 5 + 6 + 5 + 5 + 5 + 7


def day(n: int) -> dt.date:
    return DAY0 + dt.timedelta(days=n)


def in_app(app, fn, *args, **kw):
    with app.app_context():
        from ecrf.studies import study_runtime
        from ecrf.users import User

        return fn(study_runtime(STUDY), User.objects(username="dm").first(), *args, **kw)


# (status, day 0 known, until, forms expected): screening from registration, apheresis once enrolled, each
# visit on the day its window opens and not the day before (LD: day -5 exactly; D21: 21 - 2; M3: 90 - 7).
EXPECTED = [
    ("screening", False, day(400), SCREEN),
    ("enrolled", False, day(400), SCREEN + APH),
    ("screen_failed", True, day(400), SCREEN),
    ("enrolled", True, day(-6), SCREEN + APH),
    ("enrolled", True, day(-5), SCREEN + APH + LD),
    ("enrolled", True, day(-1), SCREEN + APH + LD),
    ("enrolled", True, day(0), SCREEN + APH + LD + D0),
    ("enrolled", True, day(18), SCREEN + APH + LD + D0 + D1_TO_D14),
    ("enrolled", True, day(19), SCREEN + APH + LD + D0 + D1_TO_D14 + D21),
]


@pytest.mark.parametrize(("status", "known", "until", "count"), EXPECTED)
def test_forms_expected_by_a_day_follow_the_schedule_windows(cd7_app, status, known, until, count):
    from ecrf import reports

    expected = in_app(cd7_app, lambda study, _: reports.expected_forms(study, status, DAY0 if known else None, until))
    assert len(expected) == count
    assert len(set(expected)) == count  # each (event, form) once


def test_a_visit_is_expected_from_the_first_day_of_its_window(cd7_app):
    from ecrf import reports

    def m3(until):
        return in_app(cd7_app, lambda study, _: ("M3", "RESP") in reports.expected_forms(study, "enrolled", DAY0,
                                                                                         until))

    assert (m3(day(82)), m3(day(83)), m3(day(97))) == (False, True, True)


def screen(staff, subject: str, forms: dict) -> None:
    for form, data in forms.items():
        assert staff.save(subject, "SCREEN", form, data).status_code == 201, form


IC = {"RFICDTC": "2026-02-01", "ICVER": "1", "ICREAD": True}
ECOG = {"ECOG": 1, "ECOGDTC": "2026-02-01"}
INF = {"INFDTC": f"{DAY0.isoformat()}T02:00:00Z", "LOT": "L", "WEIGHT_BASIS": 70, "CAR_CELLS": 2.1e8,
       "PREMED": True, "INFREACT": False}


def test_completeness_counts_the_expected_forms_not_only_the_saved_ones(cd7_app, cd7):
    from ecrf import reports

    staff = cd7("staff01")
    staff.register("01", "C1")
    screen(staff, "C1", {"IC": IC, "ECOG": ECOG})  # 2 of the 12 screening forms saved and complete
    cd7("staff02").register("02", "C2")  # nothing saved yet
    report = in_app(cd7_app, reports.completeness, today=DAY0)
    rows = {row["subject"]: row for row in report["subjects"]}
    assert (rows["C1"]["expected"], rows["C1"]["saved"], rows["C1"]["complete"]) == (SCREEN, 2, 2)
    assert rows["C1"]["percent"] == round(100 * 2 / 12, 1)      # not 100 %: ten expected forms are missing
    assert "SCREEN/DM" in rows["C1"]["missing"] and "SCREEN/IC" not in rows["C1"]["missing"]
    assert (rows["C2"]["expected"], rows["C2"]["saved"], rows["C2"]["percent"]) == (SCREEN, 0, 0.0)
    assert report["sites"]["01"] == {"subjects": 1, "expected": 12, "saved": 2, "complete": 2, "percent": 16.7}
    assert report["sites"]["02"]["percent"] == 0.0
    assert report["total"] == {"subjects": 2, "expected": 24, "saved": 2, "complete": 2, "percent": 8.3}


def test_nothing_is_expected_after_a_subject_died(cd7_app, cd7):
    from ecrf import reports

    staff = cd7("staff01")
    staff.register("01", "C1")
    assert staff.save("C1", "D0", "INF", INF).status_code == 201
    alive = {r["subject"]: r for r in in_app(cd7_app, reports.completeness, today=day(100))["subjects"]}["C1"]
    assert staff.save("C1", "LOGS", "DEATH", {"DTHDTC": day(10).isoformat(),
                                              "DTHCAUSE": "infection"}).status_code == 201
    dead = {r["subject"]: r for r in in_app(cd7_app, reports.completeness, today=day(100))["subjects"]}["C1"]
    assert ("M3/RESP" in alive["missing"], "M3/RESP" in dead["missing"]) == (True, False)
    assert "D10/VS" in dead["missing"] and "D11/VS" not in dead["missing"]
    assert dead["expected"] < alive["expected"]


# subject -> (infused, M3 outcome or None, death day or None); expected (ITT responders, ITT n, evaluable n)
ORR_CASES = [
    ({"A": (True, "CR", None), "B": (True, None, None)}, (1, 2, 1)),                 # missed: ITT non-responder
    ({"A": (True, "PR", None), "B": (True, None, 30)}, (1, 2, 1)),                   # died before M3: likewise
    ({"A": (True, "CR", None), "B": (False, "CR", None)}, (1, 1, 1)),                # never infused: in neither
    ({"A": (False, None, None)}, (0, 0, 0)),                                          # nobody infused: no rate
]
OUTCOME = {"CR": {"HGB": 100, "NEUT": 1.0, "PLAT": 100, "RETI": 80, "TRANSFUSED_28D": False},
           "PR": {"HGB": 90, "NEUT": 0.6, "PLAT": 30, "RETI": 80, "TRANSFUSED_28D": False}}


@pytest.mark.parametrize(("cohort", "expected"), ORR_CASES)
def test_the_orr_intention_to_treat_denominator_is_every_infused_subject(cd7_app, cd7, cohort, expected):
    from ecrf import efficacy

    staff = cd7("staff01")
    for subject, (infused, outcome, death) in cohort.items():
        staff.register("01", subject)
        if infused:
            assert staff.save(subject, "D0", "INF", INF).status_code == 201
        if outcome:
            assert staff.save(subject, "M3", "RESP", {"RESPDTC": day(90).isoformat(), **OUTCOME[outcome]}) \
                .status_code == 201
        if death:
            assert staff.save(subject, "LOGS", "DEATH", {"DTHDTC": day(death).isoformat(),
                                                         "DTHCAUSE": "infection"}).status_code == 201
    m3 = in_app(cd7_app, efficacy.response_rates, today=day(120))[0]
    itt, evaluable = m3["orr"]["itt"], m3["orr"]["evaluable"]
    assert (itt["responders"], itt["n"], evaluable["n"]) == expected
    assert itt["n"] == m3["infused"]
    assert (itt["rate"] is None) == (itt["n"] == 0)


EMPTY = ["No subjects registered yet.", "No open queries.", "No forms saved yet.", "No CRS graded yet.",
         "No ICANS graded yet.", "No adverse events reported.", "No infused subjects yet: no response to show.",
         "No infused subjects yet: no survival to show.", "No blood counts with a study day yet."]


def test_every_report_of_an_empty_study_says_it_is_empty_in_both_languages(cd7_app):
    from ecrf.i18n import translate

    client = cd7_app.test_client()
    login(client, "dm")
    page = client.get(f"/studies/{STUDY}/reports", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert page.count('class="empty-state"') >= 7
    for message in EMPTY:
        assert message in page, message
    chinese = client.get(f"/studies/{STUDY}/reports", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    for message in [*EMPTY[:3], *EMPTY[5:], "Completeness against the schedule"]:
        with cd7_app.test_request_context():
            said = translate(message, "zh")
        assert said != message and said in chinese, message
    with cd7_app.test_request_context():
        assert translate("No %(name)s graded yet.", "zh") % {"name": "CRS"} in chinese


def ticks(svg: str) -> list[str]:
    """The y-axis tick labels matplotlib wrote (it names each text it draws in an SVG comment): the numbers."""
    axis = svg[svg.index('id="matplotlib.axis_2"'):]
    return [text for text in re.findall(r"<!-- (.*?) -->", axis) if re.fullmatch(r"[−\-0-9.]+", text)]


def test_count_charts_have_whole_number_axes_even_for_one_subject():
    from ecrf import charts

    enrollment = charts.enrollment_chart({"sites": ["01"], "cumulative": [{"month": "2026-01", "01": 1, "total": 1}]})
    labels = ticks(enrollment)
    assert labels and all(re.fullmatch(r"[0-9]+", label) for label in labels), labels
    assert "0" in labels and "1" in labels
    bars = ticks(charts.bars(["0–7 d", "8–14 d"], [1, 0], "open queries"))
    assert bars and all(re.fullmatch(r"[0-9]+", label) for label in bars), bars
