"""CTCAE v5.0 (NCI, 2017) laboratory grades.

Grades are tested from 4 down to 1 and the first that matches wins; none
matching is grade 0. U = ULN, L = LLN, B = baseline, v = value.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ecrf.clinical._numbers import dec

# (grade, lower bound exclusive multiple) for high-direction terms, tested 4 -> 1.
# ALT/AST and bilirubin with a normal baseline: grade g when v > multiple × ULN (and within the band above).
AMINOTRANSFERASE_NORMAL = ((4, Decimal("20")), (3, Decimal("5")), (2, Decimal("3")), (1, Decimal("1")))
AMINOTRANSFERASE_ABNORMAL = ((4, Decimal("20")), (3, Decimal("5")), (2, Decimal("3")))
AMINOTRANSFERASE_ABNORMAL_G1_FROM = Decimal("1.5")  # G1 is [1.5B, 3B], inclusive both ends
BILIRUBIN = ((4, Decimal("10")), (3, Decimal("3")), (2, Decimal("1.5")), (1, Decimal("1")))

# Low-direction terms: grade g when v < threshold (tested 4 -> 2); G1 when [G2 upper bound, LLN).
LOW_COUNT_THRESHOLDS: dict[str, tuple[tuple[int, Decimal], ...]] = {
    "NEUT": ((4, Decimal("0.5")), (3, Decimal("1.0")), (2, Decimal("1.5"))),
    "PLAT": ((4, Decimal("25")), (3, Decimal("50")), (2, Decimal("75"))),
    "HGB": ((3, Decimal("80")), (2, Decimal("100"))),  # G4/G5 are clinical, never from the value
    "LYM": ((4, Decimal("0.2")), (3, Decimal("0.5")), (2, Decimal("0.8"))),
    "WBC": ((4, Decimal("1.0")), (3, Decimal("2.0")), (2, Decimal("3.0"))),
}


def _above(value: Decimal, reference: Decimal, table) -> int:
    for grade, multiple in table:
        if value > multiple * reference:
            return grade
    return 0


def grade_aminotransferase(value: Any, uln: Any, baseline: Any = None) -> int | None:
    """CTCAE v5.0 ALT/AST increased.

    Baseline normal (B ≤ ULN, or unknown): G1 (U, 3U] · G2 (3U, 5U] · G3 (5U, 20U] · G4 > 20U.
    Baseline abnormal (B > ULN): G1 [1.5B, 3B] · G2 (3B, 5B] · G3 (5B, 20B] · G4 > 20B; below 1.5B is 0.
    """
    v, u, b = dec(value), dec(uln), dec(baseline)
    if v is None or u is None or u <= 0:
        return None
    if b is None or b <= u:
        return _above(v, u, AMINOTRANSFERASE_NORMAL)
    grade = _above(v, b, AMINOTRANSFERASE_ABNORMAL)
    if grade:
        return grade
    return 1 if v >= AMINOTRANSFERASE_ABNORMAL_G1_FROM * b else 0


def grade_bilirubin(value: Any, uln: Any, baseline: Any = None) -> int | None:
    """CTCAE v5.0 blood bilirubin increased.

    Baseline normal: G1 (U, 1.5U] · G2 (1.5U, 3U] · G3 (3U, 10U] · G4 > 10U.
    Baseline abnormal (B > ULN): G1 (B, 1.5B] · G2 (1.5B, 3B] · G3 (3B, 10B] · G4 > 10B.
    """
    v, u, b = dec(value), dec(uln), dec(baseline)
    if v is None or u is None or u <= 0:
        return None
    reference = b if b is not None and b > u else u
    return _above(v, reference, BILIRUBIN)


def grade_creatinine(value: Any, uln: Any, baseline: Any = None) -> int | None:
    """CTCAE v5.0 creatinine increased: criteria OR-ed, the highest grade met wins.

    G4 v > 6U · G3 v > 3U or v > 3B · G2 v > 1.5U or v > 1.5B · G1 (U, 1.5U].
    A value below ULN can be G2 or G3 on the baseline criterion alone.
    """
    v, u, b = dec(value), dec(uln), dec(baseline)
    if v is None or u is None or u <= 0:
        return None
    if b is not None and b <= 0:
        b = None
    if v > 6 * u:
        return 4
    if v > 3 * u or (b is not None and v > 3 * b):
        return 3
    if v > Decimal("1.5") * u or (b is not None and v > Decimal("1.5") * b):
        return 2
    if v > u:
        return 1
    return 0


def grade_low_count(analyte: str, value: Any, lln: Any = None) -> int | None:
    """CTCAE v5.0 decreased counts (NEUT, PLAT, LYM, WBC in 10⁹/L; HGB in g/L).

    Grades 2-4 do not refer to LLN; G1 is [G2 bound, LLN) and needs LLN (no LLN, no G1).
    Anemia is never graded 4 from the value.
    """
    table = LOW_COUNT_THRESHOLDS.get(analyte) if isinstance(analyte, str) else None
    v = dec(value)
    if table is None or v is None:
        return None
    for grade, threshold in table:
        if v < threshold:
            return grade
    low = dec(lln)
    if low is not None and v < low:
        return 1
    return 0


HIGH_DIRECTION = {"ALT": grade_aminotransferase, "AST": grade_aminotransferase,
                  "BILI": grade_bilirubin, "CREAT": grade_creatinine}


def grade_lab(analyte: str, value: Any, *, uln: Any = None, lln: Any = None, baseline: Any = None) -> int | None:
    """The CTCAE v5.0 grade of one lab value (ALT AST BILI CREAT NEUT PLAT HGB LYM WBC), or None."""
    if analyte in HIGH_DIRECTION:
        return HIGH_DIRECTION[analyte](value, uln, baseline)
    if analyte in LOW_COUNT_THRESHOLDS:
        return grade_low_count(analyte, value, lln)
    return None
