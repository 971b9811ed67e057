"""CTCAE v5.0 (NCI, 2017) laboratory grades.

Grades are tested from 4 down to 1 and the first that matches wins; none
matching is grade 0. U = ULN, L = LLN, B = baseline, v = value. Every
comparison is made on Decimals built from the numbers' text, so 3 × ULN is
exactly 3 × ULN. Missing or malformed input (None, text, bool, NaN, a
negative value, a non-positive ULN or baseline) gives None, never an error.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ecrf.clinical._numbers import dec

# High-direction terms: (grade, multiple); grade g when v > multiple × reference, tested 4 -> 1.
AMINOTRANSFERASE_NORMAL = ((4, Decimal("20")), (3, Decimal("5")), (2, Decimal("3")), (1, Decimal("1")))
AMINOTRANSFERASE_ABNORMAL = ((4, Decimal("20")), (3, Decimal("5")), (2, Decimal("3")))
AMINOTRANSFERASE_ABNORMAL_G1_FROM = Decimal("1.5")  # baseline abnormal: G1 is [1.5B, 3B], inclusive both ends
BILIRUBIN = ((4, Decimal("10")), (3, Decimal("3")), (2, Decimal("1.5")), (1, Decimal("1")))
# Creatinine: (grade, multiple of ULN, multiple of baseline or None); the criteria of a grade are OR-ed.
CREATININE = ((4, Decimal("6"), None), (3, Decimal("3"), Decimal("3")), (2, Decimal("1.5"), Decimal("1.5")),
              (1, Decimal("1"), None))

# Low-direction terms: (grade, threshold); grade g when v < threshold, tested 4 -> 2. G1 is [G2 threshold, LLN).
# Units: ×10⁹/L for the counts, g/L for haemoglobin.
LOW_COUNT_THRESHOLDS: dict[str, tuple[tuple[int, Decimal], ...]] = {
    "NEUT": ((4, Decimal("0.5")), (3, Decimal("1.0")), (2, Decimal("1.5"))),
    "PLAT": ((4, Decimal("25")), (3, Decimal("50")), (2, Decimal("75"))),
    "HGB": ((3, Decimal("80")), (2, Decimal("100"))),  # G4/G5 are clinical, never from the value
    "LYM": ((4, Decimal("0.2")), (3, Decimal("0.5")), (2, Decimal("0.8"))),
    "WBC": ((4, Decimal("1.0")), (3, Decimal("2.0")), (2, Decimal("3.0"))),
}


def _high_inputs(value: Any, uln: Any, baseline: Any) -> tuple[Decimal, Decimal, Decimal | None] | None:
    """(v, U, B) checked: v ≥ 0, U > 0, B absent or > 0; None when any is missing or malformed."""
    v, u, b = dec(value), dec(uln), dec(baseline)
    if v is None or u is None or v < 0 or u <= 0:
        return None
    if baseline is not None and (b is None or b <= 0):
        return None
    return v, u, b


def _above(value: Decimal, reference: Decimal, table: tuple[tuple[int, Decimal], ...]) -> int:
    for grade, multiple in table:
        if value > multiple * reference:
            return grade
    return 0


def grade_aminotransferase(value: Any, uln: Any, baseline: Any = None) -> int | None:
    """CTCAE v5.0 ALT / AST increased, grade 0-4.

    Baseline normal (B absent or B ≤ ULN), against U: G1 (U, 3U] · G2 (3U, 5U] · G3 (5U, 20U] · G4 > 20U.
    Baseline abnormal (B > ULN), against B: G1 [1.5B, 3B] · G2 (3B, 5B] · G3 (5B, 20B] · G4 > 20B;
    anything below 1.5B is grade 0.
    """
    checked = _high_inputs(value, uln, baseline)
    if checked is None:
        return None
    v, u, b = checked
    if b is None or b <= u:
        return _above(v, u, AMINOTRANSFERASE_NORMAL)
    grade = _above(v, b, AMINOTRANSFERASE_ABNORMAL)
    if grade:
        return grade
    return 1 if v >= AMINOTRANSFERASE_ABNORMAL_G1_FROM * b else 0


def grade_bilirubin(value: Any, uln: Any, baseline: Any = None) -> int | None:
    """CTCAE v5.0 blood bilirubin increased, grade 0-4.

    Baseline normal (B absent or B ≤ ULN): G1 (U, 1.5U] · G2 (1.5U, 3U] · G3 (3U, 10U] · G4 > 10U.
    Baseline abnormal (B > ULN): G1 (B, 1.5B] · G2 (1.5B, 3B] · G3 (3B, 10B] · G4 > 10B.
    """
    checked = _high_inputs(value, uln, baseline)
    if checked is None:
        return None
    v, u, b = checked
    return _above(v, b if b is not None and b > u else u, BILIRUBIN)


def grade_creatinine(value: Any, uln: Any, baseline: Any = None) -> int | None:
    """CTCAE v5.0 creatinine increased, grade 0-4: criteria OR-ed, the highest grade met wins.

    G4 v > 6U · G3 v > 3U or v > 3B · G2 v > 1.5U or v > 1.5B · G1 (U, 1.5U].
    The baseline criteria apply whatever the baseline is (normal or not), so a
    value below ULN can be G2 or G3 on the baseline alone; without a baseline
    only the ULN criteria apply.
    """
    checked = _high_inputs(value, uln, baseline)
    if checked is None:
        return None
    v, u, b = checked
    for grade, of_uln, of_baseline in CREATININE:
        if v > of_uln * u or (b is not None and of_baseline is not None and v > of_baseline * b):
            return grade
    return 0


def grade_low_count(analyte: Any, value: Any, lln: Any = None) -> int | None:
    """CTCAE v5.0 decreased counts, grade 0-4 (NEUT PLAT LYM WBC in ×10⁹/L; HGB in g/L).

    Grades 4-2 are fixed thresholds (LOW_COUNT_THRESHOLDS) that do not refer
    to LLN, tested 4 -> 2, so a value below the G2 threshold keeps its grade
    even when a site's LLN is lower. G1 is [G2 threshold, LLN) and needs LLN:
    with no LLN there is no G1 (grade 0 above the G2 band). Anaemia is never
    graded 4 from the value. Unknown analyte, or malformed value/LLN → None.
    """
    table = LOW_COUNT_THRESHOLDS.get(analyte) if isinstance(analyte, str) else None
    v, low = dec(value), dec(lln)
    if table is None or v is None or v < 0 or (lln is not None and (low is None or low < 0)):
        return None
    for grade, threshold in table:
        if v < threshold:
            return grade
    return 1 if low is not None and v < low else 0


HIGH_DIRECTION = {"ALT": grade_aminotransferase, "AST": grade_aminotransferase,
                  "BILI": grade_bilirubin, "CREAT": grade_creatinine}


def grade_lab(analyte: Any, value: Any, *, uln: Any = None, lln: Any = None, baseline: Any = None) -> int | None:
    """The CTCAE v5.0 grade of one lab value, or None.

    ALT AST BILI CREAT are graded against ``uln`` and ``baseline`` (``lln`` is
    ignored); NEUT PLAT HGB LYM WBC against ``lln`` (``uln`` and ``baseline``
    are ignored). Analyte codes are exact (upper case); any other → None.
    """
    if not isinstance(analyte, str):
        return None
    if analyte in HIGH_DIRECTION:
        return HIGH_DIRECTION[analyte](value, uln, baseline)
    if analyte in LOW_COUNT_THRESHOLDS:
        return grade_low_count(analyte, value, lln)
    return None
