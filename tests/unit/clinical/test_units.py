"""Unit conversions: Hb g/dL × 10, bilirubin mg/dL × 17.1, creatinine mg/dL × 88.4, counts /mm³ ÷ 1000."""

import pytest

from ecrf.clinical.units import convert


@pytest.mark.parametrize("analyte, value, source, target, result", [
    ("HGB", 9.5, "g/dL", "g/L", 95), ("BILI", 1.2, "mg/dL", "µmol/L", 20.52), ("BILI", 1.2, "mg/dL", "umol/L", 20.52),
    ("CREAT", 1.0, "mg/dL", "umol/L", 88.4), ("NEUT", 1500, "/mm3", "10^9/L", 1.5), ("PLAT", 20000, "cells/mm3", "10^9/L", 20),
    ("HGB", 95, "g/L", "g/dL", 9.5), ("ALT", 40, "U/L", "U/L", 40),
])
def test_conversions(analyte, value, source, target, result):
    assert convert(analyte, value, source, target) == pytest.approx(result)


def test_bilirubin_and_creatinine_share_mg_dl_with_different_factors():
    assert convert("BILI", 1, "mg/dL", "umol/L") != convert("CREAT", 1, "mg/dL", "umol/L")


@pytest.mark.parametrize("args", [("HGB", None, "g/dL", "g/L"), ("ALT", 1, "U/L", "ukat/L"), ("HGB", "9", "g/dL", "g/L")])
def test_unknown_conversions_give_none(args):
    assert convert(*args) is None
