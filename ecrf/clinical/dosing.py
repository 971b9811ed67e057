"""Body surface area and doses: CAR-T cells per kg against its target, lymphodepletion mg by BSA.

The target dose, its tolerance and the mg/m² of each drug are study
parameters, passed in. Missing, malformed or out-of-range input gives None.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ecrf.clinical._numbers import dec

BSA_PLACES = Decimal("0.0001")
MG_PLACES = Decimal("0.01")


def _positive(value: Any) -> Decimal | None:
    number = dec(value)
    return number if number is not None and number > 0 else None


def _non_negative(value: Any) -> Decimal | None:
    number = dec(value)
    return number if number is not None and number >= 0 else None


def bsa_mosteller(height_cm: Any, weight_kg: Any) -> float | None:
    """Mosteller BSA = √(height cm × weight kg / 3600) m², rounded half-up to 4 dp (170 cm, 70 kg → 1.8181).

    Height or weight missing or not positive → None.
    """
    h, w = _positive(height_cm), _positive(weight_kg)
    if h is None or w is None:
        return None
    return float((h * w / 3600).sqrt().quantize(BSA_PLACES, rounding=ROUND_HALF_UP))


def dose_per_kg(total_cells: Any, weight_kg: Any) -> float | None:
    """CAR⁺ cells per kg of body weight, unrounded (weight missing or not positive, or cells negative → None)."""
    cells, w = _non_negative(total_cells), _positive(weight_kg)
    if cells is None or w is None:
        return None
    return float(cells / w)


def dose_within_tolerance(dose_per_kg: Any, target_per_kg: Any, tolerance_fraction: Any) -> bool | None:
    """True when the dose lies in [target × (1 − tol), target × (1 + tol)], both bounds included.

    3 × 10⁶/kg ± 20 % accepts 2.4 × 10⁶ to 3.6 × 10⁶ inclusive. Target not
    positive, tolerance outside [0, 1] or dose negative → None.
    """
    dose, target, tol = _non_negative(dose_per_kg), _positive(target_per_kg), _non_negative(tolerance_fraction)
    if dose is None or target is None or tol is None or tol > 1:
        return None
    return target * (1 - tol) <= dose <= target * (1 + tol)


def expected_dose_mg(bsa_m2: Any, mg_per_m2: Any) -> float | None:
    """BSA × mg/m², in mg rounded half-up to 2 dp (BSA not positive or mg/m² negative → None)."""
    bsa, per_m2 = _positive(bsa_m2), _non_negative(mg_per_m2)
    if bsa is None or per_m2 is None:
        return None
    return float((bsa * per_m2).quantize(MG_PLACES, rounding=ROUND_HALF_UP))


def dose_deviation_fraction(actual_mg: Any, expected_mg: Any) -> float | None:
    """|actual − expected| / expected, unrounded (expected missing or not positive, actual negative → None)."""
    actual, expected = _non_negative(actual_mg), _positive(expected_mg)
    if actual is None or expected is None:
        return None
    return float(abs(actual - expected) / expected)
