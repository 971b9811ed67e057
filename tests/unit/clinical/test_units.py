"""Unit conversions: Hb g/dL × 10, bilirubin mg/dL × 17.1, creatinine mg/dL × 88.4, counts /mm³ ÷ 1000."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrf.clinical.units import convert


@pytest.mark.parametrize("analyte, value, source, target, result", [
    ("HGB", 9.5, "g/dL", "g/L", 95.0), ("HGB", 8, "g/dL", "g/L", 80.0), ("HGB", 95, "g/L", "g/dL", 9.5),
    ("BILI", 1.2, "mg/dL", "µmol/L", 20.52), ("BILI", 1.2, "mg/dL", "umol/L", 20.52),
    ("BILI", 1.2, "mg/dL", "μmol/L", 20.52),      # Greek mu as well as the micro sign
    ("BILI", 20.52, "umol/L", "mg/dL", 1.2),
    ("CREAT", 1.0, "mg/dL", "umol/L", 88.4), ("CREAT", 1.3, "mg/dL", "µmol/L", 114.92),
    ("CREAT", 114.92, "µmol/L", "mg/dL", 1.3),
    ("NEUT", 1500, "/mm3", "10^9/L", 1.5), ("PLAT", 20000, "cells/mm3", "10^9/L", 20.0),
    ("LYM", 200, "cells/mm3", "10^9/L", 0.2), ("WBC", 3000, "/mm3", "10^9/L", 3.0),
    ("NEUT", 1.5, "10^9/L", "/mm3", 1500.0),
    ("ALT", 40, "U/L", "U/L", 40.0), ("HGB", 120, "g/L", "g/L", 120.0), ("NEUT", 1.8, "10^9/L", "10^9/L", 1.8),
    ("BILI", 21, "umol/L", "µmol/L", 21.0),      # spellings of one unit are the same unit
])
def test_each_conversion_is_exact(analyte, value, source, target, result):
    assert convert(analyte, value, source, target) == result


def test_bilirubin_and_creatinine_share_mg_dl_with_different_factors():
    assert convert("BILI", 1, "mg/dL", "umol/L") == 17.1
    assert convert("CREAT", 1, "mg/dL", "umol/L") == 88.4


@pytest.mark.parametrize("source, target", [("MG/DL", "UMOL/L"), (" mg/dL ", "µmol / L")])
def test_unit_spelling_ignores_case_and_spaces(source, target):
    assert convert("BILI", 1, source, target) == 17.1


def test_result_is_a_plain_float():
    assert type(convert("HGB", 9, "g/dL", "g/L")) is float


@pytest.mark.parametrize("args", [
    ("HGB", None, "g/dL", "g/L"), ("HGB", "9", "g/dL", "g/L"), ("HGB", True, "g/dL", "g/L"),
    ("HGB", 9, None, "g/L"), ("HGB", 9, "g/dL", None), ("HGB", 9, "", "g/L"), ("HGB", 9, 1, "g/L"),
    ("ALT", 1, "U/L", "ukat/L"),                  # no factor known
    ("HGB", 9, "mg/dL", "umol/L"),                # the mg/dL factors belong to bilirubin and creatinine only
    ("GLUC", 5, "mg/dL", "umol/L"),
    ("BILI", 1, "g/dL", "g/L"),
    (None, 1, "mg/dL", "umol/L"), (["BILI"], 1, "mg/dL", "umol/L"),
])
def test_unknown_conversions_or_malformed_inputs_give_none(args):
    assert convert(*args) is None


@given(st.sampled_from([("HGB", "g/dL", "g/L"), ("BILI", "mg/dL", "umol/L"), ("CREAT", "mg/dL", "umol/L"),
                        ("NEUT", "/mm3", "10^9/L")]), st.integers(0, 10**6))
def test_converting_there_and_back_returns_the_value(conversion, value):
    analyte, source, target = conversion
    assert convert(analyte, convert(analyte, value, source, target), target, source) == pytest.approx(value)
