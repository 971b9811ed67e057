"""CTCAE v5.0 lab grades at, just below and just above every boundary of CLINICAL.md.

Ranges are the CLINICAL.md defaults, passed explicitly: ALT/AST ULN 40 U/L,
bilirubin ULN 21 µmol/L, creatinine ULN 115 µmol/L (male), ANC LLN 1.8,
platelets LLN 150, Hb LLN 120 g/L (female), lymphocytes LLN 1.0, WBC LLN 4.0.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrf.clinical.ctcae import (
    LOW_COUNT_THRESHOLDS,
    grade_aminotransferase,
    grade_bilirubin,
    grade_creatinine,
    grade_lab,
    grade_low_count,
)

ALT_ULN = AST_ULN = 40
BILI_ULN = 21
CREAT_ULN = 115
LLN = {"NEUT": 1.8, "PLAT": 150, "HGB": 120, "LYM": 1.0, "WBC": 4.0}

# ---------------------------------------------------------------- ALT / AST

# Baseline normal, against U = 40: G1 (40, 120] · G2 (120, 200] · G3 (200, 800] · G4 > 800.
AMINOTRANSFERASE_NORMAL_BASELINE = [
    (0, 0), (39.99, 0), (40, 0), (40.01, 1),
    (119.99, 1), (120, 1), (120.01, 2),
    (199.99, 2), (200, 2), (200.01, 3),
    (799.99, 3), (800, 3), (800.01, 4), (5000, 4),
]


@pytest.mark.parametrize("value, grade", AMINOTRANSFERASE_NORMAL_BASELINE)
@pytest.mark.parametrize("baseline", [None, 20, 39.99, 40], ids=["no-baseline", "B20", "B39.99", "B=ULN"])
def test_aminotransferase_with_normal_or_unknown_baseline_grades_against_uln(value, grade, baseline):
    assert grade_aminotransferase(value, ALT_ULN, baseline) == grade


# Baseline abnormal B = 50 (> U): 0 below 1.5B = 75 · G1 [75, 150] · G2 (150, 250] · G3 (250, 1000] · G4 > 1000.
@pytest.mark.parametrize("value, grade", [
    (20, 0), (40.01, 0), (49.99, 0), (50, 0), (50.01, 0),   # B < v < 1.5B is grade 0 (even above ULN)
    (74.99, 0), (75, 1), (75.01, 1),                        # G1 starts at 1.5B, inclusive
    (149.99, 1), (150, 1), (150.01, 2),                     # G1 ends at 3B, inclusive
    (249.99, 2), (250, 2), (250.01, 3),
    (999.99, 3), (1000, 3), (1000.01, 4),
])
def test_aminotransferase_with_abnormal_baseline_grades_against_baseline(value, grade):
    assert grade_aminotransferase(value, ALT_ULN, baseline=50) == grade


@pytest.mark.parametrize("baseline, value, grade", [
    (40, 60, 1),      # B = ULN is a normal baseline: 60 > U is G1
    (40.01, 60, 0),   # B just above ULN is abnormal: 60 < 1.5B = 60.015 is 0
    (40.01, 60.015, 1),
])
def test_aminotransferase_baseline_is_abnormal_only_when_strictly_above_uln(baseline, value, grade):
    assert grade_aminotransferase(value, ALT_ULN, baseline) == grade


@pytest.mark.parametrize("uln, baseline, value, grade", [
    (0.6, None, 1.8, 1),   # 3 × 0.6 is 1.7999999999999998 in floats; exactly 1.8 is still G1
    (0.6, None, 1.80001, 2),
    (0.6, 0.8, 1.2, 1),    # 1.5 × 0.8 is 1.2000000000000002 in floats; exactly 1.2 is G1 (inclusive)
    (0.6, 0.8, 1.19999, 0),
    (0.6, 0.8, 2.4, 1),    # 3 × 0.8 = 2.4 is still G1 (inclusive)
])
def test_aminotransferase_boundaries_are_exact_in_ukat_per_l(uln, baseline, value, grade):
    assert grade_aminotransferase(value, uln, baseline) == grade


def test_ast_uses_the_aminotransferase_table():
    assert [grade_lab("AST", v, uln=AST_ULN) for v, _ in AMINOTRANSFERASE_NORMAL_BASELINE] == \
        [g for _, g in AMINOTRANSFERASE_NORMAL_BASELINE]
    assert grade_lab("AST", 75, uln=AST_ULN, baseline=50) == 1


# ---------------------------------------------------------------- bilirubin

# Baseline normal, U = 21: G1 (21, 31.5] · G2 (31.5, 63] · G3 (63, 210] · G4 > 210.
@pytest.mark.parametrize("value, grade", [
    (2, 0), (20.99, 0), (21, 0), (21.01, 1),
    (31.49, 1), (31.5, 1), (31.51, 2),
    (62.99, 2), (63, 2), (63.01, 3),
    (209.99, 3), (210, 3), (210.01, 4),
])
@pytest.mark.parametrize("baseline", [None, 10, 21], ids=["no-baseline", "B10", "B=ULN"])
def test_bilirubin_with_normal_or_unknown_baseline_grades_against_uln(value, grade, baseline):
    assert grade_bilirubin(value, BILI_ULN, baseline) == grade


# Baseline abnormal B = 30: G1 (30, 45] · G2 (45, 90] · G3 (90, 300] · G4 > 300.
@pytest.mark.parametrize("value, grade", [
    (21.01, 0), (29.99, 0), (30, 0), (30.01, 1),
    (44.99, 1), (45, 1), (45.01, 2),
    (89.99, 2), (90, 2), (90.01, 3),
    (299.99, 3), (300, 3), (300.01, 4),
])
def test_bilirubin_with_abnormal_baseline_grades_against_baseline(value, grade):
    assert grade_bilirubin(value, BILI_ULN, baseline=30) == grade


@pytest.mark.parametrize("value, grade", [(0.45, 1), (0.45001, 2), (0.9, 2), (0.90001, 3)])
def test_bilirubin_boundaries_are_exact_in_mg_per_dl(value, grade):
    # ULN 0.3 mg/dL: 1.5 × 0.3 is 0.44999999999999996 and 3 × 0.3 is 0.8999999999999999 in floats.
    assert grade_bilirubin(value, 0.3) == grade


# ---------------------------------------------------------------- creatinine

# ULN 115: G1 (115, 172.5] · G2 > 172.5 · G3 > 345 · G4 > 690.
@pytest.mark.parametrize("value, grade", [
    (60, 0), (114.99, 0), (115, 0), (115.01, 1),
    (172.49, 1), (172.5, 1), (172.51, 2),
    (344.99, 2), (345, 2), (345.01, 3),
    (689.99, 3), (690, 3), (690.01, 4),
])
def test_creatinine_without_baseline_uses_the_uln_criteria(value, grade):
    assert grade_creatinine(value, CREAT_ULN) == grade


@pytest.mark.parametrize("baseline, value, grade", [
    # B = 60: 1.5B = 90, 3B = 180. A value below ULN is G2 on the baseline alone.
    (60, 89.99, 0), (60, 90, 0), (60, 90.01, 2), (60, 114.99, 2), (60, 115.01, 2),
    (60, 179.99, 2), (60, 180, 2), (60, 180.01, 3),
    # B = 30: 1.5B = 45, 3B = 90. A value below ULN is G3 on the baseline alone.
    (30, 45, 0), (30, 45.01, 2), (30, 90, 2), (30, 90.01, 3), (30, 114.99, 3),
    # B = 200 (above ULN): the ULN criteria still apply; the baseline adds G2 > 300, G3 > 600.
    (200, 115, 0), (200, 150, 1), (200, 172.51, 2), (200, 300.01, 2), (200, 345.01, 3), (200, 600.01, 3),
    # G4 has no baseline criterion: only v > 6U.
    (100, 690, 3), (100, 690.01, 4), (10, 680, 3),
])
def test_creatinine_criteria_are_or_ed_and_the_highest_grade_met_wins(baseline, value, grade):
    assert grade_creatinine(value, CREAT_ULN, baseline) == grade


@pytest.mark.parametrize("value, grade", [(3.6, 2), (3.60001, 3), (1.8, 1), (1.80001, 2), (7.2, 3), (7.20001, 4)])
def test_creatinine_boundaries_are_exact_in_mg_per_dl(value, grade):
    # ULN 1.2 mg/dL: 3 × 1.2 is 3.5999999999999996 in floats; exactly 3.6 is G2.
    assert grade_creatinine(value, 1.2) == grade


# ---------------------------------------------------------------- low counts

LOW_COUNT_BOUNDARIES = [
    # analyte, value, grade (with the CLINICAL.md default LLN)
    ("NEUT", 0, 4), ("NEUT", 0.49, 4), ("NEUT", 0.5, 3), ("NEUT", 0.51, 3), ("NEUT", 0.99, 3), ("NEUT", 1.0, 2),
    ("NEUT", 1.01, 2), ("NEUT", 1.49, 2), ("NEUT", 1.5, 1), ("NEUT", 1.51, 1), ("NEUT", 1.79, 1), ("NEUT", 1.8, 0),
    ("NEUT", 1.81, 0),
    ("PLAT", 0, 4), ("PLAT", 24.9, 4), ("PLAT", 25, 3), ("PLAT", 25.1, 3), ("PLAT", 49.9, 3), ("PLAT", 50, 2),
    ("PLAT", 50.1, 2), ("PLAT", 74.9, 2), ("PLAT", 75, 1), ("PLAT", 75.1, 1), ("PLAT", 149.9, 1), ("PLAT", 150, 0),
    ("PLAT", 150.1, 0),
    ("HGB", 0, 3), ("HGB", 79.9, 3), ("HGB", 80, 2), ("HGB", 80.1, 2), ("HGB", 99.9, 2), ("HGB", 100, 1),
    ("HGB", 100.1, 1), ("HGB", 119.9, 1), ("HGB", 120, 0), ("HGB", 120.1, 0),
    ("LYM", 0, 4), ("LYM", 0.19, 4), ("LYM", 0.2, 3), ("LYM", 0.21, 3), ("LYM", 0.49, 3), ("LYM", 0.5, 2),
    ("LYM", 0.51, 2), ("LYM", 0.79, 2), ("LYM", 0.8, 1), ("LYM", 0.81, 1), ("LYM", 0.99, 1), ("LYM", 1.0, 0),
    ("LYM", 1.01, 0),
    ("WBC", 0, 4), ("WBC", 0.99, 4), ("WBC", 1.0, 3), ("WBC", 1.01, 3), ("WBC", 1.99, 3), ("WBC", 2.0, 2),
    ("WBC", 2.01, 2), ("WBC", 2.99, 2), ("WBC", 3.0, 1), ("WBC", 3.01, 1), ("WBC", 3.99, 1), ("WBC", 4.0, 0),
    ("WBC", 4.01, 0),
]


@pytest.mark.parametrize("analyte, value, grade", LOW_COUNT_BOUNDARIES)
def test_low_counts_at_every_boundary_with_lln(analyte, value, grade):
    assert grade_low_count(analyte, value, LLN[analyte]) == grade
    assert grade_lab(analyte, value, lln=LLN[analyte]) == grade


@pytest.mark.parametrize("analyte, value, grade", LOW_COUNT_BOUNDARIES)
def test_no_lln_no_grade_1_but_grades_2_to_4_still_apply(analyte, value, grade):
    assert grade_low_count(analyte, value) == (0 if grade == 1 else grade)
    assert grade_low_count(analyte, value, None) == (0 if grade == 1 else grade)


@pytest.mark.parametrize("value", [0, 0.001, 10, 79.9])
def test_hemoglobin_is_never_grade_4_from_its_value(value):
    assert grade_low_count("HGB", value, LLN["HGB"]) == 3
    assert grade_low_count("HGB", value) == 3


@pytest.mark.parametrize("analyte, value, lln, grade", [
    ("NEUT", 1.3, 1.2, 2),   # below the G2 threshold 1.5: G2 even though above a (low) site LLN
    ("NEUT", 1.5, 1.2, 0),   # in the G1 band but at or above LLN: 0
    ("LYM", 0.9, 0.9, 0),    # value = LLN: 0
    ("LYM", 0.89, 0.9, 1),
    ("PLAT", 100, 0, 0),     # LLN 0: nothing is below it
])
def test_grades_2_to_4_do_not_refer_to_lln_and_g1_is_up_to_lln_exclusive(analyte, value, lln, grade):
    assert grade_low_count(analyte, value, lln) == grade


def test_low_count_table_holds_the_ctcae_thresholds():
    assert {a: [(g, float(t)) for g, t in rows] for a, rows in LOW_COUNT_THRESHOLDS.items()} == {
        "NEUT": [(4, 0.5), (3, 1.0), (2, 1.5)],
        "PLAT": [(4, 25), (3, 50), (2, 75)],
        "HGB": [(3, 80), (2, 100)],
        "LYM": [(4, 0.2), (3, 0.5), (2, 0.8)],
        "WBC": [(4, 1.0), (3, 2.0), (2, 3.0)],
    }


# ---------------------------------------------------------------- dispatcher and bad input

@pytest.mark.parametrize("analyte, value, kwargs, grade", [
    ("ALT", 121, {"uln": ALT_ULN}, 2),
    ("ALT", 75, {"uln": ALT_ULN, "baseline": 50}, 1),
    ("AST", 801, {"uln": AST_ULN, "lln": 10}, 4),              # LLN is ignored for a high-direction term
    ("BILI", 31.6, {"uln": BILI_ULN}, 2),
    ("BILI", 45.01, {"uln": BILI_ULN, "baseline": 30}, 2),
    ("CREAT", 90.01, {"uln": CREAT_ULN, "baseline": 60}, 2),
    ("NEUT", 1.6, {"lln": 1.8}, 1),
    ("PLAT", 60, {"lln": 150, "uln": 450}, 2),                 # ULN is ignored for a low-direction term
    ("HGB", 79, {"lln": 120}, 3),
    ("LYM", 0.1, {}, 4),
    ("WBC", 3.5, {}, 0),
])
def test_grade_lab_dispatches_each_analyte_to_its_table(analyte, value, kwargs, grade):
    assert grade_lab(analyte, value, **kwargs) == grade


@pytest.mark.parametrize("call", [
    lambda: grade_aminotransferase(None, 40), lambda: grade_aminotransferase(50, None),
    lambda: grade_aminotransferase("50", 40), lambda: grade_aminotransferase(50, "40"),
    lambda: grade_aminotransferase(50, 40, "30"), lambda: grade_aminotransferase(50, 40, 0),
    lambda: grade_aminotransferase(-1, 40), lambda: grade_aminotransferase(50, 0),
    lambda: grade_aminotransferase(float("nan"), 40), lambda: grade_aminotransferase(float("inf"), 40),
    lambda: grade_bilirubin(True, 21), lambda: grade_bilirubin(None, 21), lambda: grade_bilirubin(30, [21]),
    lambda: grade_bilirubin(30, 21, -5),
    lambda: grade_creatinine(100, 0), lambda: grade_creatinine(None, 115), lambda: grade_creatinine(100, 115, "60"),
    lambda: grade_creatinine(100, 115, 0), lambda: grade_creatinine(-100, 115),
    lambda: grade_low_count("NEUT", None, 1.8), lambda: grade_low_count("NEUT", "0.4", 1.8),
    lambda: grade_low_count("NEUT", 1.6, "1.8"), lambda: grade_low_count("NEUT", -0.1, 1.8),
    lambda: grade_low_count("NEUT", 1.6, -1), lambda: grade_low_count("GLUC", 5, 3),
    lambda: grade_low_count("neut", 0.4, 1.8), lambda: grade_low_count(None, 0.4, 1.8),
    lambda: grade_low_count(["NEUT"], 0.4, 1.8),
    lambda: grade_lab("XYZ", 1, uln=2), lambda: grade_lab(None, 1, uln=2), lambda: grade_lab(["ALT"], 1, uln=2),
    lambda: grade_lab({"a": 1}, 1), lambda: grade_lab("ALT", 50), lambda: grade_lab("ALT", None, uln=40),
])
def test_missing_or_malformed_inputs_give_no_grade(call):
    assert call() is None


# ---------------------------------------------------------------- properties

values = st.floats(0, 5000, allow_nan=False, allow_infinity=False)


@given(values, values, st.sampled_from([grade_aminotransferase, grade_bilirubin, grade_creatinine]),
       st.one_of(st.none(), st.floats(0.01, 500)))
def test_high_direction_grades_never_fall_as_the_value_rises(a, b, grade, baseline):
    low, high = sorted((a, b))
    assert grade(low, 40, baseline) <= grade(high, 40, baseline)


@given(st.floats(0, 500, allow_nan=False), st.floats(0, 500, allow_nan=False),
       st.sampled_from(sorted(LOW_COUNT_THRESHOLDS)), st.one_of(st.none(), st.floats(0, 500)))
def test_low_count_grades_never_rise_as_the_value_rises(a, b, analyte, lln):
    low, high = sorted((a, b))
    assert grade_low_count(analyte, low, lln) >= grade_low_count(analyte, high, lln)
