"""Unit conversions for graded analytes: grade on one unit system, convert on entry, keep what was entered.

Bilirubin and creatinine share mg/dL with different factors, so a conversion
is keyed by analyte as well as units.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ecrf.clinical._numbers import dec

# Spellings (lower case, spaces removed) -> canonical unit; other units are compared as written.
SPELLINGS = {"umol/l": "umol/L", "µmol/l": "umol/L", "μmol/l": "umol/L", "mg/dl": "mg/dL", "g/dl": "g/dL",
             "g/l": "g/L", "10^9/l": "10^9/L", "10*9/l": "10^9/L", "x10^9/l": "10^9/L", "×10^9/l": "10^9/L",
             "10⁹/l": "10^9/L", "×10⁹/l": "10^9/L", "/mm3": "/mm3", "/mm³": "/mm3", "cells/mm3": "/mm3",
             "cells/mm³": "/mm3", "/ul": "/mm3", "/µl": "/mm3", "cells/ul": "/mm3", "cells/µl": "/mm3"}

COUNT_ANALYTE = "*"  # a count per mm³ converts the same way whatever is counted
# (analyte, from, to) -> factor; each conversion also runs backwards (divide).
FACTORS: dict[tuple[str, str, str], Decimal] = {
    ("HGB", "g/dL", "g/L"): Decimal("10"),
    ("BILI", "mg/dL", "umol/L"): Decimal("17.1"),
    ("CREAT", "mg/dL", "umol/L"): Decimal("88.4"),
    (COUNT_ANALYTE, "/mm3", "10^9/L"): Decimal("0.001"),
}


def _unit(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return SPELLINGS.get(text.strip().lower().replace(" ", ""), text.strip())


def convert(analyte: Any, value: Any, from_unit: Any, to_unit: Any) -> float | None:
    """``value`` of ``analyte`` (e.g. "HGB", "BILI", "CREAT", "NEUT") converted from one unit to another.

    Hb g/dL × 10 = g/L · bilirubin mg/dL × 17.1 = µmol/L · creatinine mg/dL
    × 88.4 = µmol/L · counts /mm³ (cells/mm³, /µL) ÷ 1000 = 10⁹/L, and the
    reverse of each; the same unit (after spelling is normalised) returns the
    value unchanged. Computed in Decimal, returned as float. Unknown
    conversion, or a missing or malformed value or unit → None.
    """
    number, source, target = dec(value), _unit(from_unit), _unit(to_unit)
    if number is None or source is None or target is None or not isinstance(analyte, str):
        return None
    if source == target:
        return float(number)
    for name in (analyte, COUNT_ANALYTE):
        if (name, source, target) in FACTORS:
            return float(number * FACTORS[name, source, target])
        if (name, target, source) in FACTORS:
            return float(number / FACTORS[name, target, source])
    return None
