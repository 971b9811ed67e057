"""Reports on a seeded synthetic study with known answers: ORR and its exact interval, Kaplan–Meier,
query aging, overdue visits, safety by day."""

import datetime as dt
import re

import pytest
from lifelines import KaplanMeierFitter
from scipy.stats import binomtest

STUDY = "CD7_CART_SAA"
DAY0 = dt.date(2026, 3, 2)


def on(day: int) -> str:
    return (DAY0 + dt.timedelta(days=day)).isoformat()


# subject -> (M3 response data or None, death day or None, last SURV day, progression day or None)
SEED = {
    "S1": ({"HGB": 100, "NEUT": 1.0, "PLAT": 100, "RETI": 80, "TRANSFUSED_28D": False}, 100, 90, None),    # CR
    "S2": ({"HGB": 90, "NEUT": 0.6, "PLAT": 30, "RETI": 80, "TRANSFUSED_28D": False}, None, 200, 150),     # PR
    "S3": ({"HGB": 90, "NEUT": 0.6, "PLAT": 30, "RETI": 80, "TRANSFUSED_28D": False}, 300, 270, None),     # PR
    "S4": ({"HGB": 70, "NEUT": 0.3, "PLAT": 10, "RETI": 10, "TRANSFUSED_28D": True}, None, 90, None),      # NR
    "S5": ({"HGB": 90, "NEUT": 0.6, "PLAT": 30, "RETI": 80, "TRANSFUSED_28D": True}, None, 365, 60),  # NR (transfused)
    "S6": (None, None, 30, None),                                                                     # not evaluable
}


@pytest.fixture
def seeded(cd7_app, cd7):
    staff = cd7("staff01")
    for subject, (response, death, last, progression) in SEED.items():
        staff.register("01", subject)
        assert staff.save(subject, "SCREEN", "IC",
                          {"RFICDTC": "2026-02-01", "ICVER": "1", "ICREAD": True}).status_code == 201
        assert staff.save(subject, "D0", "INF",
                          {"INFDTC": f"{DAY0.isoformat()}T02:00:00Z", "LOT": "L", "WEIGHT_BASIS": 70,
                           "CAR_CELLS": 2.1e8, "PREMED": True, "INFREACT": False}).status_code == 201
        if response:
            assert staff.save(subject, "M3", "RESP", {"RESPDTC": on(90), **response}).status_code == 201
        surv = {"SURVDTC": on(last), "ALIVE": True, "DISSTAT": "progression" if progression else "response"}
        if progression:
            surv.update(PROGDTC=on(progression), PROGTYPE=["counts_saa"])
        assert staff.save(subject, "M12", "SURV", surv).status_code == 201, subject
        if death:
            assert staff.save(subject, "LOGS", "DEATH",
                              {"DTHDTC": on(death), "DTHCAUSE": "infection"}).status_code == 201
    # Safety: S1 has CRS grade 2 on day 1 and grade 1 on day 2; S2 grade 1 on day 1.
    staff.save("S1", "D1", "CRS", {"CRSDTC": on(1), "TEMP_MAX": 38.5, "HYPOTENSION": "fluids_only",
                                   "O2_DEVICE": "room_air", "ANTICYTOKINE_GIVEN": False})
    staff.save("S1", "D2", "CRS", {"CRSDTC": on(2), "TEMP_MAX": 38.5, "HYPOTENSION": "none", "O2_DEVICE": "room_air",
                                   "ANTICYTOKINE_GIVEN": False})
    staff.save("S2", "D1", "CRS", {"CRSDTC": on(1), "TEMP_MAX": 38.1, "HYPOTENSION": "none", "O2_DEVICE": "room_air",
                                   "ANTICYTOKINE_GIVEN": False})
    return cd7_app


def run(app, fn, *args, **kw):
    with app.app_context():
        from ecrf.studies import study_runtime
        from ecrf.users import User
        return fn(study_runtime(STUDY), User.objects(username="dm").first(), *args, **kw)


def exact(successes: int, trials: int) -> tuple[float, float]:
    interval = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="exact")
    return interval.low, interval.high


def test_orr_at_m3_with_its_exact_interval(seeded):
    from ecrf import efficacy

    (m3, m6) = run(seeded, efficacy.response_rates)
    assert (m3["CR"], m3["PR"], m3["NR"], m3["evaluable"]) == (1, 2, 2, 5)
    assert (m3["infused"], m3["not_assessed"], m3["died_before"]) == (6, 1, 0)   # S6 missed M3
    evaluable, itt = m3["orr"]["evaluable"], m3["orr"]["itt"]
    assert (evaluable["responders"], evaluable["n"], evaluable["rate"]) == (3, 5, pytest.approx(0.6))
    assert (evaluable["ci_low"], evaluable["ci_high"]) == pytest.approx(exact(3, 5))
    assert (round(evaluable["ci_low"], 4), round(evaluable["ci_high"], 4)) == (0.1466, 0.9473)  # published, 3/5
    assert (itt["responders"], itt["n"], itt["rate"]) == (3, 6, pytest.approx(0.5))
    assert (itt["ci_low"], itt["ci_high"]) == pytest.approx(exact(3, 6))
    # At M6 nobody is assessed: S1 died on day 100, before it; the other five are non-responders by ITT.
    assert (m6["evaluable"], m6["infused"], m6["not_assessed"], m6["died_before"]) == (0, 6, 5, 1)
    assert m6["orr"]["evaluable"] == {"responders": 0, "n": 0, "rate": None, "ci_low": None, "ci_high": None}
    assert m6["orr"]["itt"]["rate"] == 0 and (m6["orr"]["itt"]["ci_low"], m6["orr"]["itt"]["ci_high"]) == \
        pytest.approx(exact(0, 6))


CR = {"HGB": 100, "NEUT": 1.0, "PLAT": 100, "RETI": 80, "TRANSFUSED_28D": False}
PR = {"HGB": 90, "NEUT": 0.6, "PLAT": 30, "RETI": 80, "TRANSFUSED_28D": False}
NR = {"HGB": 70, "NEUT": 0.3, "PLAT": 10, "RETI": 10, "TRANSFUSED_28D": True}
# subject -> (infused, M3 assessment or None, death day or None)
COHORT = {
    "A1": (True, CR, None), "A2": (True, PR, None),   # two responders
    "A3": (True, NR, None),                           # a non-responder, assessed
    "A4": (True, None, None),                         # missed the visit
    "A5": (True, None, 60),                           # died on day 60, before M3 (day 90)
    "A6": (False, CR, None),                          # assessed but never infused: in neither population
}


def test_orr_intention_to_treat_counts_every_infused_subject_and_the_evaluable_only_the_assessed(cd7_app, cd7):
    from ecrf import efficacy

    staff = cd7("staff01")
    for subject, (infused, response, death) in COHORT.items():
        staff.register("01", subject)
        if infused:
            assert staff.save(subject, "D0", "INF", {"INFDTC": f"{DAY0.isoformat()}T02:00:00Z", "LOT": "L",
                                                     "WEIGHT_BASIS": 70, "CAR_CELLS": 2.1e8, "PREMED": True,
                                                     "INFREACT": False}).status_code == 201
        if response:
            assert staff.save(subject, "M3", "RESP", {"RESPDTC": on(90), **response}).status_code == 201
        if death:
            assert staff.save(subject, "LOGS", "DEATH",
                              {"DTHDTC": on(death), "DTHCAUSE": "infection"}).status_code == 201

    m3 = run(cd7_app, efficacy.response_rates, today=DAY0 + dt.timedelta(days=98))[0]   # M3's window (90 ± 7) closed

    assert (m3["CR"], m3["PR"], m3["NR"], m3["not_assessed"], m3["died_before"], m3["infused"]) == (1, 1, 1, 1, 1, 5)
    assert m3["not_yet_due"] == 0
    itt, evaluable = m3["orr"]["itt"], m3["orr"]["evaluable"]
    assert (itt["responders"], itt["n"]) == (2, 5) and itt["rate"] == pytest.approx(0.4)
    assert (evaluable["responders"], evaluable["n"]) == (2, 3) and evaluable["rate"] == pytest.approx(2 / 3)
    assert (itt["ci_low"], itt["ci_high"]) == pytest.approx(exact(2, 5))
    assert (evaluable["ci_low"], evaluable["ci_high"]) == pytest.approx(exact(2, 3))
    assert (round(itt["ci_low"], 4), round(itt["ci_high"], 4)) == (0.0527, 0.8534)  # Clopper–Pearson for 2/5
    # While M3's window is still open, the subject who missed it is said to be not yet due: still a non-responder
    # by ITT.
    early = run(cd7_app, efficacy.response_rates, today=DAY0 + dt.timedelta(days=97))[0]
    assert (early["not_assessed"], early["not_yet_due"], early["orr"]["itt"]["n"]) == (1, 1, 5)


def product_limit(points):
    """Kaplan–Meier by hand: S(t) just after each event time."""
    survival, curve = 1.0, {}
    for time in sorted({t for t, e in points if e}):
        at_risk = sum(1 for t, _ in points if t >= time)
        deaths = sum(1 for t, e in points if t == time and e)
        survival *= 1 - deaths / at_risk
        curve[time] = survival
    return curve


def test_kaplan_meier_matches_the_product_limit_estimate(seeded):
    from ecrf import efficacy

    data = run(seeded, efficacy.survival_data)
    os_points = {s: (t, e) for s, t, e in data["os"]}
    assert os_points == {"S1": (100, True), "S2": (200, False), "S3": (300, True), "S4": (90, False),
                         "S5": (365, False), "S6": (30, False)}
    pfs_points = {s: (t, e) for s, t, e in data["pfs"]}
    assert pfs_points["S2"] == (150, True) and pfs_points["S5"] == (60, True) and pfs_points["S1"] == (100, True)
    for points in (data["os"], data["pfs"]):
        km = efficacy.kaplan_meier(points)
        by_hand = product_limit([(t, e) for _, t, e in points])
        curve = dict(zip(km["times"], km["survival"], strict=True))
        for time, value in by_hand.items():
            assert curve[time] == pytest.approx(value)
        fitted = KaplanMeierFitter().fit([t for _, t, _ in points], [e for _, _, e in points])  # lifelines itself
        assert km["survival"] == pytest.approx(list(fitted.survival_function_at_times(km["times"])))
    os_km = efficacy.kaplan_meier(data["os"], at=[0, 100, 365])
    assert os_km["at_risk"] == [(0, 6), (100, 4), (365, 1)] and os_km["events"] == 2
    # Censored at 30, 90, 200, 365; S(t) there: 1 before the first death (day 100, 4 at risk), 3/4 after it,
    # 3/4 · 1/2 after the second (day 300, 2 at risk).
    assert [t for t, _ in os_km["censored"]] == [30, 90, 200, 365]
    assert [s for _, s in os_km["censored"]] == pytest.approx([1.0, 1.0, 0.75, 0.375])


def test_kaplan_meier_charts_mark_each_censored_observation():
    from lxml import etree

    from ecrf.charts import km_chart
    from ecrf.efficacy import kaplan_meier

    curves = {"Overall survival": kaplan_meier([("a", 10, True), ("b", 20, False), ("c", 30, False), ("d", 40, True)])}
    svg = etree.fromstring(km_chart(curves).encode())
    lines = svg.xpath("//svg:g[@id='axes_1']/svg:g[starts-with(@id, 'line2d_')]", namespaces=SVG)
    marks = [len(line.xpath(".//svg:use", namespaces=SVG)) for line in lines]
    assert 2 in marks   # the two censored subjects, marked on the curve
    assert "censored" in km_chart(curves)


def test_query_aging_buckets_and_time_to_close(seeded, cd7):
    from audit import utc_now
    from ecrf import reports

    monitor = cd7("mon01")
    first = monitor.post(f"/studies/{STUDY}/queries",
                         {"subject": "S1", "event": "M3", "form": "RESP", "item": "/HGB", "text": "?"})
    second = monitor.post(f"/studies/{STUDY}/queries",
                          {"subject": "S2", "event": "M3", "form": "RESP", "item": "/HGB", "text": "?"})
    monitor.post(f"/studies/{STUDY}/queries/{second.get_json()['id']}/close", {})
    metrics = run(seeded, reports.query_metrics, now=utc_now() + dt.timedelta(days=10))
    assert dict(metrics["open_by_age"])["8–14 d"] >= 1
    assert ("RESP", 1) in metrics["open_by_form"] and metrics["closed"] == 1 and metrics["median_days_to_close"] == 0
    assert first.status_code == 201


def test_visits_outside_their_window_are_overdue_and_the_next_ones_upcoming(seeded):
    from ecrf import reports

    status = run(seeded, reports.visit_status, today=DAY0 + dt.timedelta(days=24))
    s1 = next(r for r in status["subjects"] if r["subject"] == "S1")["events"]
    assert s1["D0"] == "incomplete"           # only the infusion form is saved
    assert s1["D14"] == "overdue"             # window 14 ± 0 closed with nothing saved
    assert s1["D21"] == "overdue"             # 21 + 2 = day 23 < day 24
    assert s1["D28"] == "upcoming"            # window opens on day 25
    assert s1["M3"] == "incomplete"           # RESP saved, other M3 forms not
    at_22 = run(seeded, reports.visit_status, today=DAY0 + dt.timedelta(days=22))
    assert next(r for r in at_22["subjects"] if r["subject"] == "S1")["events"]["D21"] == "due"


def test_crs_worst_grade_per_subject_per_day(seeded):
    from ecrf import reports

    crs = run(seeded, reports.toxicity_by_day, "CRS", "CRS_GRADE", "CRSDTC")
    assert crs["per_subject"] == {"S1": {1: 2, 2: 1}, "S2": {1: 1}}
    assert crs["by_day"] == {1: {1: 1, 2: 1}, 2: {1: 1}} and crs["max_grade"] == {1: 1, 2: 1}


def test_enrollment_counts_by_month_and_site(seeded):
    from ecrf import reports

    enrollment = run(seeded, reports.enrollment)
    assert enrollment["cumulative"] == [{"month": "2026-02", "01": 6, "total": 6}]


def test_the_reports_page_shows_charts_with_their_numbers(seeded):
    from conftest import login

    from ecrf import efficacy

    client = seeded.test_client()
    login(client, "dm")
    page = client.get(f"/studies/{STUDY}/reports").get_data(as_text=True)
    assert page.count('src="data:image/svg+xml;base64,') >= 5
    orr = re.search(r'<table id="orr-rates">.*?</table>', page, re.S).group(0)
    rows = [re.sub(r"<[^>]+>|\s+", " ", row).split() for row in re.findall(r"<tr class=.*?</tr>", orr, re.S)]
    assert rows[:2] == [["M3", "intention-to-treat", "3", "/", "6", "50.0", "11.8–88.2"],
                        ["M3", "evaluable", "3", "/", "5", "60.0", "14.7–94.7"]]  # ORR with its exact 95 % CI, labelled
    assert efficacy.ORR_POPULATIONS["itt"] in page and efficacy.ORR_POPULATIONS["evaluable"] in page
    assert "Overall survival (n=6, events=2" in page
    assert f"Overall survival: {efficacy.SURVIVAL_RULES['os']}" in page     # each curve's censoring rule beside it
    assert f"Progression-free survival: {efficacy.SURVIVAL_RULES['pfs']}" in page
    login(client, "root")
    assert client.get(f"/studies/{STUDY}/reports").status_code == 403


def test_visit_status_and_review_progress_share_one_read_and_agree_with_reading_alone(seeded, monkeypatch):
    from conftest import counting_calls, login

    from ecrf import reports

    today = DAY0 + dt.timedelta(days=24)
    alone = run(seeded, reports.visit_status, today=today), run(seeded, reports.review_progress)
    states = run(seeded, reports.record_states)
    shared = (run(seeded, reports.visit_status, today=today, records=states),
              run(seeded, reports.review_progress, records=states))
    assert shared == alone
    assert alone[1]["form"]["SURV"] == {"saved": 6, "complete": 100.0, "verified": 0.0, "signed": 0.0, "locked": 0.0}
    client = seeded.test_client()
    login(client, "dm")
    finds = counting_calls(monkeypatch, "find")
    assert client.get(f"/studies/{STUDY}/reports").status_code == 200
    # Every report of the page reads the subject summaries, once; the records only in the refresh before it.
    assert finds.count("subject_summaries") == 1, finds
    assert finds.count("records") == 1, finds


def hem(day: int, neut: float) -> dict:
    return {"LBDTC": on(day), "HGB": 72, "WBC": 1.1, "NEUT": neut, "LYM": 0.6, "PLAT": 12, "RETI": 18}


def test_blood_counts_give_each_subject_and_the_spread_at_each_visit(seeded, cd7):
    from ecrf import efficacy

    staff = cd7("staff01")
    for n, subject in enumerate(["S1", "S2", "S3", "S4", "S5"], start=1):
        assert staff.save(subject, "D7", "LB_HEM", hem(7, n / 10)).status_code == 201
    for subject, day, neut in (("S1", -30, 0.5), ("S2", -29, 0.7)):
        assert staff.save(subject, "SCREEN", "LB_HEM", hem(day, neut)).status_code == 201
    assert staff.save("S1", "UNSCHED", "LB_HEM", hem(40, 9.9)).status_code == 201

    neut = run(seeded, efficacy.blood_counts)["NEUT"]
    assert neut["subjects"]["S1"] == [(-30, 0.5), (7, 0.1), (40, 9.9)]   # every value of the subject, by study day
    assert neut["subjects"]["S5"] == [(7, 0.5)]
    screening, day7 = neut["visits"]                                      # unscheduled values are in no visit
    # Quartiles inclusive of the extremes (numpy's and R's default); screening has no planned day: its measured median.
    assert screening == {"visit": "SCREEN", "day": -29.5, "n": 2,
                         "q1": pytest.approx(0.55), "median": pytest.approx(0.6), "q3": pytest.approx(0.65)}
    assert day7["visit"] == "D7" and day7["day"] == 7 and day7["n"] == 5
    assert (day7["q1"], day7["median"], day7["q3"]) == pytest.approx((0.2, 0.3, 0.4))


@pytest.mark.parametrize("values, spread", [
    ([4.0], (4.0, 4.0, 4.0)),
    ([1.0, 2.0], (1.25, 1.5, 1.75)),
    ([1.0, 2.0, 3.0, 4.0], (1.75, 2.5, 3.25)),
])
def test_a_visits_spread_is_its_median_and_quartiles(values, spread):
    from ecrf.efficacy import _spread

    found = _spread("D7", 7, values)
    assert (found["q1"], found["median"], found["q3"]) == pytest.approx(spread) and found["n"] == len(values)


def counts(subjects: int) -> dict:
    series = {f"S{n}": [(day, 1.0 + n / 10 + day / 100) for day in (0, 7, 14, 21, 28)] for n in range(subjects)}
    visits = [{"visit": f"D{day}", "day": day, "n": subjects, "q1": 1.0, "median": 1.5, "q3": 2.0}
              for day in (0, 7, 14, 21, 28)]
    return {"subjects": series, "visits": visits}


SVG = {"svg": "http://www.w3.org/2000/svg"}


def drawn(chart: str):
    from lxml import etree

    svg = etree.fromstring(chart.encode())
    lines = svg.xpath("//svg:g[@id='axes_1']/svg:g[starts-with(@id, 'line2d_')]", namespaces=SVG)  # not the ticks
    return svg, lines


@pytest.mark.parametrize("subjects", [3, 20])
def test_blood_count_charts_of_few_subjects_draw_a_marked_line_each(subjects):
    from ecrf.charts import counts_chart

    svg, lines = drawn(counts_chart(counts(subjects), "neutrophils"))
    assert len(lines) == subjects
    assert sum(len(line.xpath(".//svg:use", namespaces=SVG)) for line in lines) == 5 * subjects  # every point marked
    assert not svg.xpath("//svg:image", namespaces=SVG)


@pytest.mark.parametrize("subjects", [21, 300])
def test_blood_count_charts_of_many_subjects_show_the_spread_over_one_bitmap_of_faint_lines(subjects):
    from ecrf.charts import counts_chart

    chart = counts_chart(counts(subjects), "neutrophils")
    svg, lines = drawn(chart)
    assert len(svg.xpath("//svg:image", namespaces=SVG)) == 1       # the subjects' lines, as one bitmap
    assert len(lines) == 1                                           # the median, the only line drawn as vectors
    assert len(lines[0].xpath(".//svg:use", namespaces=SVG)) == 5    # marked at each visit
    assert svg.xpath("//svg:g[starts-with(@id, 'FillBetweenPolyCollection_') or starts-with(@id, 'PolyCollection_')]",
                     namespaces=SVG)                                 # the interquartile band
    assert "interquartile range" in chart and len(chart) < 120_000   # the page stays small however many subjects
