"""Body surface area and doses."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ecrf.clinical._numbers import dec


def bsa_mosteller(height_cm: Any, weight_kg: Any) -> float | None:
    """Mosteller BSA = √(height cm × weight kg / 3600) m², to 4 dp (170 cm, 70 kg → 1.8181)."""
    h, w = dec(height_cm), dec(weight_kg)
    if h is None or w is None or h <= 0 or w <= 0:
        return None
    return float((h * w / 3600).sqrt().quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def dose_per_kg(total_cells: Any, weight_kg: Any) -> float | None:
    """Cells per kg of body weight."""
    cells, w = dec(total_cells), dec(weight_kg)
    if cells is None or w is None or w <= 0 or cells < 0:
        return None
    return float(cells / w)


def dose_within_tolerance(dose: Any, target: Any, tolerance_fraction: Any) -> bool | None:
    """True when the dose lies in [target × (1 − tol), target × (1 + tol)], bounds included."""
    d, t, tol = dec(dose), dec(target), dec(tolerance_fraction)
    if d is None or t is None or tol is None or t <= 0 or tol < 0:
        return None
    return t * (1 - tol) <= d <= t * (1 + tol)


def expected_dose_mg(bsa_m2: Any, mg_per_m2: Any) -> float | None:
    """The BSA-based dose in mg, to 2 dp."""
    b, m = dec(bsa_m2), dec(mg_per_m2)
    if b is None or m is None or b <= 0 or m < 0:
        return None
    return float((b * m).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def dose_deviation_fraction(actual_mg: Any, expected_mg: Any) -> float | None:
    """|actual − expected| / expected."""
    a, e = dec(actual_mg), dec(expected_mg)
    if a is None or e is None or e <= 0:
        return None
    return float(abs(a - e) / e)
