"""Aplastic anemia severity (modified Camitta; BSH 2024) and haematological response (NIH criteria)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ecrf.clinical._numbers import dec

MARROW_CELLULARITY_SEVERE = Decimal("25")  # < 25 %
MARROW_BAND_TOP = Decimal("50")            # 25-50 % counts with residual haematopoietic cells < 30 %
RESIDUAL_HEME_MAX = Decimal("30")
ANC_SEVERE = Decimal("0.5")
ANC_VERY_SEVERE = Decimal("0.2")
PLATELETS_SEVERE = Decimal("20")
# Response (NIH): complete response bounds, inclusive.
CR_ANC = Decimal("1.0")
CR_HGB = Decimal("100")
CR_PLATELETS = Decimal("100")


def marrow_meets_saa(cellularity: Any, residual_heme: Any) -> bool | None:
    """Marrow criterion: cellularity < 25 %, or 25-50 % with < 30 % residual haematopoietic cells."""
    cells = dec(cellularity)
    if cells is None:
        return None
    if cells < MARROW_CELLULARITY_SEVERE:
        return True
    if cells <= MARROW_BAND_TOP:
        residual = dec(residual_heme)
        if residual is None:
            return None
        return residual < RESIDUAL_HEME_MAX
    return False


def counts_meeting_saa(anc: Any, platelets: Any, reticulocytes: Any, retic_threshold: Any) -> int | None:
    """How many of ANC < 0.5, platelets < 20, reticulocytes < R (×10⁹/L, strict) hold."""
    values = [dec(anc), dec(platelets), dec(reticulocytes), dec(retic_threshold)]
    if any(v is None for v in values):
        return None
    a, p, r, limit = values
    return sum([a < ANC_SEVERE, p < PLATELETS_SEVERE, r < limit])


def saa_severity(cellularity: Any, residual_heme: Any, anc: Any, platelets: Any, reticulocytes: Any,
                 retic_threshold: Any) -> str | None:
    """``very_severe`` / ``severe`` / ``non_severe`` by the modified Camitta criteria.

    SAA: marrow criterion and at least 2 of the 3 count criteria; very severe:
    SAA with ANC < 0.2; otherwise non-severe. R (reticulocytes) is a study parameter.
    """
    marrow = marrow_meets_saa(cellularity, residual_heme)
    counts = counts_meeting_saa(anc, platelets, reticulocytes, retic_threshold)
    if marrow is None or counts is None:
        return None
    if marrow and counts >= 2:
        return "very_severe" if dec(anc) < ANC_VERY_SEVERE else "severe"
    return "non_severe"


def response(hgb: Any, anc: Any, platelets: Any, reticulocytes: Any, transfused_28d: Any, retic_threshold: Any,
             require_transfusion_free: Any = True) -> str | None:
    """NIH response: CR, PR or NR.

    CR: ANC ≥ 1.0 and Hb ≥ 100 g/L and platelets ≥ 100 (inclusive). PR: not
    CR, counts no longer meeting SAA criteria (fewer than 2 of 3) and, when
    the study requires it, no red-cell or platelet transfusion in the 28 days
    before. NR otherwise.
    """
    h, a, p = dec(hgb), dec(anc), dec(platelets)
    if h is None or a is None or p is None:
        return None
    if a >= CR_ANC and h >= CR_HGB and p >= CR_PLATELETS:
        return "CR"
    counts = counts_meeting_saa(anc, platelets, reticulocytes, retic_threshold)
    if counts is None:
        return None
    if counts >= 2:
        return "NR"
    if require_transfusion_free is not False:
        if not isinstance(transfused_28d, bool):
            return None
        if transfused_28d:
            return "NR"
    return "PR"


def is_responder(outcome: Any) -> bool:
    """True for CR and PR (the primary endpoint ORR counts these)."""
    return outcome in ("CR", "PR")
