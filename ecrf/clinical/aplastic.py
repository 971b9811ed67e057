"""Aplastic anaemia severity (modified Camitta; BSH 2024) and haematological response (NIH criteria).

Counts in ×10⁹/L, haemoglobin in g/L, cellularity and residual haematopoietic
cells in %. The reticulocyte threshold R and whether a partial response must be
transfusion-free are study parameters, passed in. Never raises: malformed
input (text, negative numbers, percentages outside 0-100) gives None; missing
input (None) gives None unless the answer is settled without it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ecrf.clinical._numbers import dec, malformed

MARROW_CELLULARITY_SEVERE = Decimal("25")  # cellularity < 25 %
MARROW_BAND_TOP = Decimal("50")            # or 25-50 % (inclusive) ...
RESIDUAL_HEME_MAX = Decimal("30")          # ... with < 30 % residual haematopoietic cells
ANC_SEVERE = Decimal("0.5")                # count criteria, all strict: ANC < 0.5, platelets < 20, reticulocytes < R
PLATELETS_SEVERE = Decimal("20")
ANC_VERY_SEVERE = Decimal("0.2")           # very severe: SAA with ANC < 0.2
SAA_COUNTS_NEEDED = 2                      # at least 2 of the 3 count criteria
CR_ANC = Decimal("1.0")                    # complete response, bounds inclusive
CR_HGB = Decimal("100")
CR_PLATELETS = Decimal("100")
RESPONDERS = ("CR", "PR")
RESPONSES = ("CR", "PR", "NR")


def _amount(value: Any, top: Decimal | None = None) -> Decimal | None:
    """A non-negative number (at most ``top``), or None."""
    number = dec(value)
    if number is None or number < 0 or (top is not None and number > top):
        return None
    return number


def _percent(value: Any) -> Decimal | None:
    return _amount(value, Decimal("100"))


def _threshold(value: Any) -> Decimal | None:
    number = dec(value)
    return number if number is not None and number > 0 else None


def _marrow(cells: Decimal | None, residual: Decimal | None) -> bool | None:
    if cells is None:
        return None
    if cells < MARROW_CELLULARITY_SEVERE:
        return True
    if cells > MARROW_BAND_TOP:
        return False
    return None if residual is None else residual < RESIDUAL_HEME_MAX


def marrow_meets_saa(cellularity: Any, residual_heme: Any) -> bool | None:
    """Modified Camitta marrow criterion: cellularity < 25 %, or 25-50 % (inclusive) with residual haematopoietic
    cells < 30 %.

    The residual percentage is needed only in the 25-50 % band (elsewhere it
    may be None). A percentage outside 0-100 or not a number → None.
    """
    cells, residual = _percent(cellularity), _percent(residual_heme)
    if malformed((cellularity, cells), (residual_heme, residual)):
        return None
    return _marrow(cells, residual)


def _count_criteria(anc: Decimal | None, platelets: Decimal | None, reticulocytes: Decimal | None,
                    limit: Decimal | None) -> list[bool | None]:
    """Each SAA count criterion: True / False, or None when its inputs are missing."""
    return [None if anc is None else anc < ANC_SEVERE,
            None if platelets is None else platelets < PLATELETS_SEVERE,
            None if reticulocytes is None or limit is None else reticulocytes < limit]


def _counts_meet_saa(criteria: list[bool | None]) -> bool | None:
    """Whether at least 2 criteria hold, or None when the unknown ones could tip it."""
    met, unknown = criteria.count(True), criteria.count(None)
    if met >= SAA_COUNTS_NEEDED:
        return True
    if met + unknown < SAA_COUNTS_NEEDED:
        return False
    return None


def counts_meeting_saa(anc: Any, platelets: Any, reticulocytes: Any, retic_threshold: Any) -> int | None:
    """How many of ANC < 0.5, platelets < 20, reticulocytes < R (×10⁹/L, all strict) hold: 0-3.

    R is the study's reticulocyte threshold (60 in this study). Every input is
    needed; missing, negative or non-numeric input (R must be > 0) → None.
    """
    criteria = _count_criteria(_amount(anc), _amount(platelets), _amount(reticulocytes), _threshold(retic_threshold))
    return None if None in criteria else criteria.count(True)


def saa_severity(cellularity: Any, residual_heme: Any, anc: Any, platelets: Any, reticulocytes: Any,
                 retic_threshold: Any) -> str | None:
    """Modified Camitta severity: ``very_severe``, ``severe`` or ``non_severe``.

    SAA: marrow criterion and at least 2 of the 3 count criteria; very severe:
    SAA with ANC < 0.2; otherwise non-severe. No severity (None) without the
    marrow assessment (cellularity, and residual cells in the 25-50 % band).
    With it, the answer is given as soon as it is settled: a marrow that fails
    the criterion, or counts that cannot reach 2 criteria, are non-severe even
    if a count is missing (None); otherwise a missing count → None.
    Malformed input → None always.
    """
    cells, residual = _percent(cellularity), _percent(residual_heme)
    a, p, r, limit = _amount(anc), _amount(platelets), _amount(reticulocytes), _threshold(retic_threshold)
    if malformed((cellularity, cells), (residual_heme, residual), (anc, a), (platelets, p), (reticulocytes, r),
                  (retic_threshold, limit)):
        return None
    marrow = _marrow(cells, residual)
    if marrow is None:  # no severity without the marrow assessment
        return None
    counts = _counts_meet_saa(_count_criteria(a, p, r, limit))
    if marrow is False or counts is False:
        return "non_severe"
    if counts is None or a is None:
        return None
    return "very_severe" if a < ANC_VERY_SEVERE else "severe"


def _complete(hgb: Decimal | None, anc: Decimal | None, platelets: Decimal | None) -> bool | None:
    bounds = [(anc, CR_ANC), (hgb, CR_HGB), (platelets, CR_PLATELETS)]
    if any(value is not None and value < bound for value, bound in bounds):
        return False
    if any(value is None for value, _ in bounds):
        return None
    return True


def response(hgb: Any, anc: Any, platelets: Any, reticulocytes: Any, transfused_28d: Any, retic_threshold: Any,
             require_transfusion_free: Any = True) -> str | None:
    """NIH haematological response: ``CR``, ``PR`` or ``NR``.

    CR: ANC ≥ 1.0 and Hb ≥ 100 g/L and platelets ≥ 100 (bounds inclusive;
    transfusions and reticulocytes not looked at). PR: not CR, fewer than 2 of
    the 3 SAA count criteria (reticulocyte threshold R) and, when
    ``require_transfusion_free`` is True, ``transfused_28d`` is False. NR
    otherwise. The answer is given as soon as it is settled (e.g. not CR and
    transfused with the rule on is NR whatever the reticulocytes); a missing
    input (None) that could change it → None. Malformed input, including a
    non-bool ``transfused_28d`` or ``require_transfusion_free`` → None always.
    """
    h, a, p, r, limit = (_amount(hgb), _amount(anc), _amount(platelets), _amount(reticulocytes),
                         _threshold(retic_threshold))
    transfused = transfused_28d if isinstance(transfused_28d, bool) else None
    if not isinstance(require_transfusion_free, bool) or malformed(
            (hgb, h), (anc, a), (platelets, p), (reticulocytes, r), (retic_threshold, limit),
            (transfused_28d, transfused)):
        return None
    complete = _complete(h, a, p)
    if complete is not False:
        return "CR" if complete else None
    if require_transfusion_free and transfused is True:
        return "NR"
    counts = _counts_meet_saa(_count_criteria(a, p, r, limit))
    if counts is True:
        return "NR"
    if counts is None or (require_transfusion_free and transfused is None):
        return None
    return "PR"


def is_responder(response: Any) -> bool | None:
    """True for CR and PR (counted in the primary endpoint ORR), False for NR, None for anything else."""
    if not isinstance(response, str) or response not in RESPONSES:
        return None
    return response in RESPONDERS
