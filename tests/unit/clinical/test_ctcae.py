"""CTCAE v5.0 lab grades at and around every boundary (CLINICAL.md), baseline normal and abnormal."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrf.clinical.ctcae import grade_aminotransferase, grade_bilirubin, grade_creatinine, grade_lab, grade_low_count

ULN = 40  # ALT default ULN, U/L


@pytest.mark.parametrize("value, grade", [
    (39.99, 0), (40, 0), (40.01, 1),          # G1 (U, 3U]
    (120, 1), (120.01, 2),                    # G2 (3U, 5U]
    (200, 2), (200.01, 3),                    # G3 (5U, 20U]
    (800, 3), (800.01, 4),                    # G4 > 20U
])
def test_aminotransferase_with_normal_baseline(value, grade):
    assert grade_aminotransferase(value, ULN) == grade
    assert grade_aminotransferase(value, ULN, baseline=ULN) == grade  # B ≤ U is a normal baseline


@pytest.mark.parametrize("value, grade", [
    (50, 0), (74.99, 0), (75, 1),             # B < v < 1.5B is 0; G1 starts at 1.5B inclusive
    (150, 1), (150.01, 2),                    # G1 ends at 3B inclusive
    (250, 2), (250.01, 3),                    # G2 (3B, 5B]
    (1000, 3), (1000.01, 4),                  # G3 (5B, 20B]; G4 > 20B
])
def test_aminotransferase_with_abnormal_baseline(value, grade):
    assert grade_aminotransferase(value, ULN, baseline=50) == grade


@pytest.mark.parametrize("value, grade", [
    (21, 0), (21.01, 1), (31.5, 1), (31.51, 2), (63, 2), (63.01, 3), (210, 3), (210.01, 4),
])
def test_bilirubin_with_normal_baseline(value, grade):
    assert grade_bilirubin(value, 21) == grade


@pytest.mark.parametrize("value, grade", [
    (30, 0), (30.01, 1), (45, 1), (45.01, 2), (90, 2), (90.01, 3), (300, 3), (300.01, 4),
])
def test_bilirubin_with_abnormal_baseline(value, grade):
    assert grade_bilirubin(value, 21, baseline=30) == grade


@pytest.mark.parametrize("value, baseline, grade", [
    (115, None, 0), (115.01, None, 1), (172.5, None, 1), (172.51, None, 2),
    (345, None, 2), (345.01, None, 3), (690, None, 3), (690.01, None, 4),
    # Baseline criteria: a value below ULN can be G2 (> 1.5B) or G3 (> 3B).
    (90, 60, 0), (90.01, 60, 2), (100, 30, 3), (90, 30, 2), (90.01, 30, 3),
    # The highest grade met wins.
    (700, 200, 4),
])
def test_creatinine_criteria_are_or_ed(value, baseline, grade):
    assert grade_creatinine(value, 115, baseline) == grade


@pytest.mark.parametrize("analyte, value, lln, grade", [
    ("NEUT", 0.49, 1.8, 4), ("NEUT", 0.5, 1.8, 3), ("NEUT", 0.99, 1.8, 3), ("NEUT", 1.0, 1.8, 2),
    ("NEUT", 1.49, 1.8, 2), ("NEUT", 1.5, 1.8, 1), ("NEUT", 1.79, 1.8, 1), ("NEUT", 1.8, 1.8, 0),
    ("PLAT", 24.9, 150, 4), ("PLAT", 25, 150, 3), ("PLAT", 49.9, 150, 3), ("PLAT", 50, 150, 2),
    ("PLAT", 74.9, 150, 2), ("PLAT", 75, 150, 1), ("PLAT", 149, 150, 1), ("PLAT", 150, 150, 0),
    ("HGB", 10, 120, 3), ("HGB", 79.9, 120, 3), ("HGB", 80, 120, 2), ("HGB", 99.9, 120, 2),
    ("HGB", 100, 120, 1), ("HGB", 119.9, 120, 1), ("HGB", 120, 120, 0),
    ("LYM", 0.19, 1.0, 4), ("LYM", 0.2, 1.0, 3), ("LYM", 0.49, 1.0, 3), ("LYM", 0.5, 1.0, 2),
    ("LYM", 0.79, 1.0, 2), ("LYM", 0.8, 1.0, 1), ("LYM", 0.99, 1.0, 1), ("LYM", 1.0, 1.0, 0),
    ("WBC", 0.99, 4.0, 4), ("WBC", 1.0, 4.0, 3), ("WBC", 1.99, 4.0, 3), ("WBC", 2.0, 4.0, 2),
    ("WBC", 2.99, 4.0, 2), ("WBC", 3.0, 4.0, 1), ("WBC", 3.99, 4.0, 1), ("WBC", 4.0, 4.0, 0),
])
def test_low_counts_at_every_boundary(analyte, value, lln, grade):
    assert grade_low_count(analyte, value, lln) == grade


def test_hemoglobin_is_never_grade_4_from_its_value():
    assert grade_low_count("HGB", 1, 120) == 3


@pytest.mark.parametrize("analyte, value, grade", [("NEUT", 1.6, 0), ("PLAT", 100, 0), ("HGB", 110, 0), ("NEUT", 1.2, 2)])
def test_no_lln_no_grade_1_but_grades_2_to_4_still_apply(analyte, value, grade):
    assert grade_low_count(analyte, value, None) == grade


@pytest.mark.parametrize("call", [
    lambda: grade_aminotransferase(None, 40), lambda: grade_aminotransferase(50, None),
    lambda: grade_aminotransferase("50", 40), lambda: grade_bilirubin(True, 21),
    lambda: grade_creatinine(100, 0), lambda: grade_low_count("NEUT", None, 1.8),
    lambda: grade_low_count("GLUC", 5, 3), lambda: grade_lab("XYZ", 1, uln=2),
])
def test_missing_or_malformed_inputs_give_no_grade(call):
    assert call() is None


def test_grade_lab_dispatches_by_analyte():
    assert grade_lab("AST", 121, uln=40) == 2
    assert grade_lab("CREAT", 80, uln=115, baseline=50) == 2
    assert grade_lab("PLAT", 60, lln=150) == 2


@given(st.floats(0, 5000, allow_nan=False), st.floats(0, 5000, allow_nan=False))
def test_high_direction_grades_never_fall_as_the_value_rises(a, b):
    low, high = sorted((a, b))
    for grade in (grade_aminotransferase, grade_bilirubin, grade_creatinine):
        assert grade(low, 40) <= grade(high, 40)
