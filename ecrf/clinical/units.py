"""Unit conversions for graded analytes: grade on one unit system, convert on entry, keep what was entered."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ecrf.clinical._numbers import dec

_SPELLINGS = {"umol/l": "umol/L", "µmol/l": "umol/L", "μmol/l": "umol/L", "mg/dl": "mg/dL", "g/dl": "g/dL",
              "g/l": "g/L", "10^9/l": "10^9/L", "10*9/l": "10^9/L", "x10^9/l": "10^9/L", "/mm3": "/mm3",
              "cells/mm3": "/mm3", "/ul": "/mm3", "cells/ul": "/mm3"}

# (analyte or "*", from, to) -> factor
FACTORS: dict[tuple[str, str, str], Decimal] = {
    ("HGB", "g/dL", "g/L"): Decimal("10"),
    ("BILI", "mg/dL", "umol/L"): Decimal("17.1"),
    ("CREAT", "mg/dL", "umol/L"): Decimal("88.4"),
    ("*", "/mm3", "10^9/L"): Decimal("0.001"),
}


def _unit(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    return _SPELLINGS.get(text.strip().lower().replace(" ", ""), text.strip())


def convert(analyte: Any, value: Any, from_unit: Any, to_unit: Any) -> float | None:
    """``value`` of ``analyte`` converted between units; None when no conversion is known."""
    number, source, target = dec(value), _unit(from_unit), _unit(to_unit)
    if number is None or source is None or target is None:
        return None
    if source == target:
        return float(number)
    for key in ((analyte, source, target), ("*", source, target)):
        if key in FACTORS:
            return float(number * FACTORS[key])
    for key in ((analyte, target, source), ("*", target, source)):
        if key in FACTORS:
            return float(number / FACTORS[key])
    return None
