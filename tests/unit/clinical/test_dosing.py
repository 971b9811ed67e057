"""BSA, CAR-T dose per kg and its tolerance, lymphodepletion doses."""

import pytest

from ecrf.clinical.dosing import (bsa_mosteller, dose_deviation_fraction, dose_per_kg, dose_within_tolerance,
                                  expected_dose_mg)


def test_bsa_example_from_the_protocol():
    assert bsa_mosteller(170, 70) == 1.8181


@pytest.mark.parametrize("height, weight", [(None, 70), (170, None), (0, 70), (170, -1), ("170", 70)])
def test_bsa_needs_positive_numbers(height, weight):
    assert bsa_mosteller(height, weight) is None


def test_dose_per_kg():
    assert dose_per_kg(210_000_000, 70) == 3_000_000
    assert dose_per_kg(1, 0) is None and dose_per_kg(None, 70) is None


@pytest.mark.parametrize("dose, within", [(2_399_999, False), (2_400_000, True), (3_000_000, True),
                                          (3_600_000, True), (3_600_001, False)])
def test_car_t_tolerance_bounds_are_inclusive(dose, within):
    assert dose_within_tolerance(dose, 3_000_000, 0.2) is within


def test_lymphodepletion_doses():
    assert expected_dose_mg(1.8181, 30) == 54.54
    assert expected_dose_mg(1.8181, 300) == 545.43
    assert dose_deviation_fraction(60, 54.54) == pytest.approx(0.1001, abs=1e-4)
    assert dose_deviation_fraction(60, 0) is None
