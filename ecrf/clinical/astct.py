"""ASTCT consensus grading of CRS and ICANS (Lee et al., Biol Blood Marrow Transplant 2019).

Grade 5 (death) is recorded, never derived. Never raises: malformed input
(unknown code, text for a number) gives None; missing input (None) gives None
unless the grade is settled without it (see each function).
"""

from __future__ import annotations

from collections.abc import Container
from decimal import Decimal
from typing import Any

from ecrf.clinical._numbers import dec, malformed

FEVER_C = Decimal("38.0")          # fever is ≥ 38.0 °C
LOW_FLOW_MAX_L_MIN = Decimal("6")  # nasal cannula ≤ 6 L/min is low flow (G2), above it high flow (G3)

HYPOTENSION_GRADES = {"none": 0, "fluids_only": 2}  # "vasopressor" grades by the count of vasopressors
HYPOTENSION_CODES = ("none", "fluids_only", "vasopressor")
VASOPRESSOR_GRADES = ((2, 4), (1, 3))  # (at least this many, excluding vasopressin; grade)
OXYGEN_GRADES = {"room_air": 0, "low_flow_nc": 2, "blow_by": 2, "high_flow_nc": 3, "facemask": 3,
                 "non_rebreather": 3, "venturi": 3, "cpap": 4, "bipap": 4, "mechanical_ventilation": 4}

ICE_PARTS_MAX = (4, 3, 1, 1, 1)  # orientation, naming, commands, writing, attention
ICE_GRADES = ((10, 0), (7, 1), (3, 2), (0, 3))  # (lowest score of the band, grade) for an arousable patient
CONSCIOUSNESS_GRADES = {"alert": 0, "spontaneous": 1, "voice": 2, "tactile": 3, "unarousable": 4}
SEIZURE_GRADES = {"none": 0, "rapid_resolving": 3, "prolonged_or_repetitive": 4}
EDEMA_GRADES = {"none": 0, "focal": 3, "diffuse": 4}
MOTOR_WEAKNESS_GRADES = {False: 0, True: 4}


def _code(value: Any, codes: Container[str]) -> str | None:
    """``value`` when it is one of the codes, else None."""
    return value if isinstance(value, str) and value in codes else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _whole(value: Any, top: int | None = None) -> int | None:
    """``value`` as a whole number in 0..top (2.0 counts as 2), or None."""
    number = dec(value)
    if number is None or number != number.to_integral_value() or number < 0 or (top is not None and number > top):
        return None
    return int(number)


def _hypotension_grade(hypotension: str | None, vasopressors: int | None) -> int | None:
    if hypotension == "vasopressor":
        return next((grade for least, grade in VASOPRESSOR_GRADES if (vasopressors or 0) >= least), None)
    return None if hypotension is None else HYPOTENSION_GRADES.get(hypotension)


def _hypoxia_grade(device: str | None, flow: Decimal | None) -> int | None:
    if device == "low_flow_nc" and flow is not None:
        return 3 if flow > LOW_FLOW_MAX_L_MIN else 2
    return None if device is None else OXYGEN_GRADES.get(device)


def crs_grade(temp_max: Any, hypotension: Any, vasopressors: Any, o2_device: Any, o2_flow: Any = None,
              anticytokine_given: Any = False) -> int | None:
    """ASTCT CRS grade 0-4: with fever ≥ 38.0 °C, the worse of hypotension and hypoxia.

    Hypotension: ``none`` 0 · ``fluids_only`` 2 · ``vasopressor`` with 1
    vasopressor (vasopressin not counted) 3, ≥ 2 → 4 (count missing or 0 →
    None; the count is not used for the other answers). Hypoxia by
    ``o2_device`` (OXYGEN_GRADES); ``low_flow_nc`` grades 3 when ``o2_flow``
    > 6 L/min, 2 when ≤ 6 or not recorded; ``high_flow_nc`` is 3 whatever the
    flow. Fever with neither is 1. After anti-cytokine therapy
    (``anticytokine_given`` True) fever is not required and the grade is that
    of hypotension/hypoxia (1 if febrile with neither). No fever and no such
    therapy is 0 (no CRS) even if hypotension/hypoxia are not recorded.
    Otherwise a missing input that could change the grade → None; a malformed
    input (unknown code, text for a number, fractional count) → None always.
    """
    temperature, count, flow = dec(temp_max), _whole(vasopressors), dec(o2_flow)
    flow = flow if flow is not None and flow >= 0 else None
    if malformed((temp_max, temperature), (vasopressors, count), (o2_flow, flow),
                  (hypotension, _code(hypotension, HYPOTENSION_CODES)), (o2_device, _code(o2_device, OXYGEN_GRADES)),
                  (anticytokine_given, _flag(anticytokine_given))):
        return None
    fever = None if temperature is None else temperature >= FEVER_C
    if fever is False and anticytokine_given is False:
        return 0
    hypo, oxygen = _hypotension_grade(hypotension, count), _hypoxia_grade(o2_device, flow)
    if hypo is None or oxygen is None:
        return None
    organ = max(hypo, oxygen)
    if fever is True:
        return organ or 1
    if organ == 0:  # afebrile or temperature missing, and neither
        return 0 if fever is False else None
    return organ if anticytokine_given else None  # without therapy (or not recorded) fever is required


def ice_score(orientation: Any, naming: Any, commands: Any, writing: Any, attention: Any) -> int | None:
    """ASTCT ICE score 0-10: orientation 0-4, naming 0-3, commands, writing and attention 0-1 each.

    Any part missing, fractional or out of its range → None.
    """
    parts = (orientation, naming, commands, writing, attention)
    scores = [_whole(value, top) for value, top in zip(parts, ICE_PARTS_MAX, strict=True)]
    whole = [score for score in scores if score is not None]
    return sum(whole) if len(whole) == len(parts) else None


def _ice_grade(ice: int | None, unarousable: bool | None) -> int | None:
    if unarousable is True:
        return 4  # ICE 0 because unarousable and unable to perform it
    if unarousable is None or ice is None:
        return None
    return next(grade for least, grade in ICE_GRADES if ice >= least)  # ICE 0 while awake is G3


def icans_grade(ice: Any, unarousable: Any, consciousness: Any, seizure: Any, motor_weakness: Any,
                icp_edema: Any) -> int | None:
    """ASTCT ICANS grade (adults) 0-4: the most severe of its domains.

    ICE (arousable patient): 10 → 0, 7-9 → 1, 3-6 → 2, 0-2 → 3; ``unarousable``
    True → 4 (``ice`` may then be None). Consciousness ``alert`` 0 ·
    ``spontaneous`` 1 · ``voice`` 2 · ``tactile`` 3 · ``unarousable`` 4.
    Seizure ``none`` 0 · ``rapid_resolving`` 3 · ``prolonged_or_repetitive`` 4.
    Deep focal motor weakness (bool) True → 4. Raised ICP/oedema ``none`` 0 ·
    ``focal`` 3 · ``diffuse`` 4. A domain at grade 4 settles the grade even
    when other domains are missing (None); otherwise a missing domain → None.
    A malformed input (unknown code, non-bool flag, ICE outside 0-10 or
    fractional) → None always. Tremor, myoclonus and intracranial haemorrhage
    do not count.
    """
    score, asleep, weakness = _whole(ice, 10), _flag(unarousable), _flag(motor_weakness)
    codes = [(consciousness, CONSCIOUSNESS_GRADES), (seizure, SEIZURE_GRADES), (icp_edema, EDEMA_GRADES)]
    if malformed((ice, score), (unarousable, asleep), (motor_weakness, weakness),
                  *((value, _code(value, table)) for value, table in codes)):
        return None
    domains = [_ice_grade(score, asleep), None if weakness is None else MOTOR_WEAKNESS_GRADES[weakness],
               *(table.get(value) for value, table in codes)]
    if 4 in domains:
        return 4
    graded = [grade for grade in domains if grade is not None]
    return max(graded) if len(graded) == len(domains) else None
