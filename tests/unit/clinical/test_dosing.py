"""BSA (Mosteller), CAR-T dose per kg against its target ± tolerance, lymphodepletion doses by BSA."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrf.clinical.dosing import (
    bsa_mosteller,
    dose_deviation_fraction,
    dose_per_kg,
    dose_within_tolerance,
    expected_dose_mg,
)

TARGET = 3e6        # CAR⁺ cells/kg (study parameter)
TOLERANCE = 0.2     # ± 20 % (study parameter)
FLUDARABINE = 30    # mg/m²/day (study parameter)
CYCLOPHOSPHAMIDE = 300


@pytest.mark.parametrize("height, weight, bsa", [
    (170, 70, 1.8181),       # the protocol's example
    (170.0, 70.0, 1.8181),
    (180, 80, 2.0),          # √4 exactly
    (160, 50, 1.4907),
    (150, 45.5, 1.3769),
    (100, 1.0, 0.1667),      # 0.16666… rounds up at the 4th place
])
def test_bsa_mosteller_to_4_dp(height, weight, bsa):
    assert bsa_mosteller(height, weight) == bsa


def test_bsa_rounds_half_up():
    # height × weight / 3600 = 1.0001000025 exactly, √ = 1.00005 exactly: half-up 1.0001, not banker's 1.0000.
    assert bsa_mosteller(3600.360009, 1) == 1.0001


@pytest.mark.parametrize("height, weight", [
    (None, 70), (170, None), (0, 70), (170, 0), (-170, 70), (170, -1), ("170", 70), (170, "70"), (True, 70),
    (float("nan"), 70), (170, float("inf")),
])
def test_bsa_needs_positive_numbers(height, weight):
    assert bsa_mosteller(height, weight) is None


@pytest.mark.parametrize("cells, weight, per_kg", [
    (210_000_000, 70, 3_000_000), (168_000_000, 70, 2_400_000), (252_000_000, 70, 3_600_000),
    (2.1e8, 70.0, 3e6), (0, 70, 0), (100_000_000, 3, 100_000_000 / 3),
])
def test_dose_per_kg_divides_cells_by_weight_unrounded(cells, weight, per_kg):
    assert dose_per_kg(cells, weight) == per_kg


@pytest.mark.parametrize("cells, weight", [(1, 0), (1, -70), (None, 70), (2.1e8, None), (-1, 70), ("2.1e8", 70)])
def test_dose_per_kg_needs_positive_weight_and_cells(cells, weight):
    assert dose_per_kg(cells, weight) is None


@pytest.mark.parametrize("dose, within", [
    (2_399_999, False), (2_399_999.99, False), (2_400_000, True), (2.4e6, True), (2_400_001, True),
    (3_000_000, True),
    (3_599_999, True), (3_600_000, True), (3.6e6, True), (3_600_000.01, False), (3_600_001, False),
    (0, False), (1e9, False),
])
def test_car_t_tolerance_bounds_are_inclusive(dose, within):
    assert dose_within_tolerance(dose, TARGET, TOLERANCE) is within


@pytest.mark.parametrize("dose, tolerance, within", [
    (3_300_000, 0.1, True), (3_300_001, 0.1, False), (2_700_000, 0.1, True), (2_699_999, 0.1, False),
    (3_000_000, 0, True), (3_000_001, 0, False),
])
def test_tolerance_is_a_study_parameter_with_exact_bounds(dose, tolerance, within):
    # 3e6 × 1.1 is 3300000.0000000005 in floats; the bound is exactly 3.3e6.
    assert dose_within_tolerance(dose, TARGET, tolerance) is within


@pytest.mark.parametrize("args", [
    (None, TARGET, TOLERANCE), (3e6, None, TOLERANCE), (3e6, TARGET, None), (3e6, 0, TOLERANCE),
    (3e6, TARGET, -0.1), (3e6, TARGET, 1.5), (-1, TARGET, TOLERANCE), ("3e6", TARGET, TOLERANCE),
])
def test_dose_tolerance_with_missing_or_malformed_inputs_is_none(args):
    assert dose_within_tolerance(*args) is None


@pytest.mark.parametrize("bsa, mg_per_m2, mg", [
    (1.8181, FLUDARABINE, 54.54), (1.8181, CYCLOPHOSPHAMIDE, 545.43), (2.0, FLUDARABINE, 60.0),
    (1.5, 0, 0.0),
    (1.7345, FLUDARABINE, 52.04),     # 52.035 rounds half-up
    (1.7345, CYCLOPHOSPHAMIDE, 520.35),
])
def test_expected_lymphodepletion_dose_is_bsa_times_mg_per_m2_to_2_dp(bsa, mg_per_m2, mg):
    assert expected_dose_mg(bsa, mg_per_m2) == mg


@pytest.mark.parametrize("args", [(None, 30), (1.8, None), (0, 30), (-1.8, 30), (1.8, -30), ("1.8", 30)])
def test_expected_dose_with_missing_or_malformed_inputs_is_none(args):
    assert expected_dose_mg(*args) is None


@pytest.mark.parametrize("actual, expected, fraction", [
    (60, 54.54, 0.10011001100110011), (54.54, 54.54, 0.0), (49.086, 54.54, 0.1), (60, 50, 0.2), (40, 50, 0.2),
])
def test_dose_deviation_is_the_absolute_relative_difference(actual, expected, fraction):
    assert dose_deviation_fraction(actual, expected) == pytest.approx(fraction, rel=1e-12)


@pytest.mark.parametrize("args", [(60, 0), (60, None), (None, 54.54), (60, -5), (-1, 50), ("60", 50)])
def test_dose_deviation_with_missing_or_zero_expected_is_none(args):
    assert dose_deviation_fraction(*args) is None


@given(st.floats(1e5, 1e7), st.floats(0, 0.9))
def test_the_target_is_within_and_a_dose_beyond_either_bound_is_not(target, tolerance):
    assert dose_within_tolerance(target, target, tolerance) is True
    assert dose_within_tolerance(target * (1 + tolerance) * 1.001, target, tolerance) is False
    assert dose_within_tolerance(target * (1 - tolerance) * 0.999, target, tolerance) is False
