"""ASTCT consensus grading of CRS and ICANS (Lee et al., Biol Blood Marrow Transplant 2019).

Grade 5 (death) is recorded, never derived. Missing or malformed input gives
None, never an error, except where the grade is settled without it (see each
function).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ecrf.clinical._numbers import dec

FEVER_C = Decimal("38.0")          # fever is ≥ 38.0 °C
LOW_FLOW_MAX_L_MIN = Decimal("6")  # nasal cannula ≤ 6 L/min is low flow (G2), above it high flow (G3)

HYPOTENSION_GRADES = {"none": 0, "fluids_only": 2}  # "vasopressor" grades by the count of vasopressors
VASOPRESSOR_GRADES = ((2, 4), (1, 3))  # (at least this many, excluding vasopressin; grade)
OXYGEN_GRADES = {"room_air": 0, "low_flow_nc": 2, "blow_by": 2, "high_flow_nc": 3, "facemask": 3,
                 "non_rebreather": 3, "venturi": 3, "cpap": 4, "bipap": 4, "mechanical_ventilation": 4}

ICE_PARTS_MAX = (4, 3, 1, 1, 1)  # orientation, naming, commands, writing, attention
ICE_GRADES = ((10, 0), (7, 1), (3, 2), (0, 3))  # (lowest score of the band, grade) for an arousable patient
CONSCIOUSNESS_GRADES = {"alert": 0, "spontaneous": 1, "voice": 2, "tactile": 3, "unarousable": 4}
SEIZURE_GRADES = {"none": 0, "rapid_resolving": 3, "prolonged_or_repetitive": 4}
EDEMA_GRADES = {"none": 0, "focal": 3, "diffuse": 4}
MOTOR_WEAKNESS_GRADES = {False: 0, True: 4}


def _choice(table: dict, value: Any) -> int | None:
    """The grade of a coded answer, or None for a missing or unknown code (never raises on odd types)."""
    if isinstance(value, bool) and table is not MOTOR_WEAKNESS_GRADES:
        return None
    try:
        return table.get(value)
    except TypeError:  # unhashable values from user data
        return None


def _whole(value: Any, top: int) -> int | None:
    """``value`` as a whole number in 0..top (2.0 counts as 2), or None."""
    number = dec(value)
    if number is None or number != number.to_integral_value() or not 0 <= number <= top:
        return None
    return int(number)


def _hypotension_grade(hypotension: Any, vasopressors: Any) -> int | None:
    if hypotension == "vasopressor":
        count = dec(vasopressors)
        if count is None or count != count.to_integral_value():
            return None
        return next((grade for least, grade in VASOPRESSOR_GRADES if count >= least), None)
    return _choice(HYPOTENSION_GRADES, hypotension)


def _hypoxia_grade(device: Any, flow: Any) -> int | None:
    grade = _choice(OXYGEN_GRADES, device)
    if device != "low_flow_nc" or flow is None:
        return grade
    litres = dec(flow)
    if litres is None or litres < 0:
        return None
    return 3 if litres > LOW_FLOW_MAX_L_MIN else 2


def crs_grade(temp_max: Any, hypotension: Any, vasopressors: Any, o2_device: Any, o2_flow: Any = None,
              anticytokine_given: Any = False) -> int | None:
    """ASTCT CRS grade 0-4: with fever ≥ 38.0 °C, the worse of hypotension and hypoxia.

    Hypotension: ``none`` 0 · ``fluids_only`` 2 · ``vasopressor`` with 1
    vasopressor (vasopressin not counted) 3, ≥ 2 → 4 (count missing, 0 or
    fractional → None; the count is ignored for the other answers).
    Hypoxia by ``o2_device`` (OXYGEN_GRADES); ``low_flow_nc`` grades 3 when
    ``o2_flow`` > 6 L/min, 2 when ≤ 6 or not recorded; ``high_flow_nc`` is 3
    whatever the flow. Fever with neither is 1. After anti-cytokine therapy
    (``anticytokine_given`` True) fever is not required and the grade is that
    of hypotension/hypoxia (1 if febrile with neither). No fever and no such
    therapy is 0 (no CRS) whatever the other inputs. A missing temperature is
    tolerated only when therapy was given and hypotension/hypoxia settle the grade.
    """
    if anticytokine_given is not None and not isinstance(anticytokine_given, bool):
        return None
    temperature = dec(temp_max)
    if temp_max is not None and temperature is None:
        return None
    fever = None if temperature is None else temperature >= FEVER_C
    if fever is False and anticytokine_given is False:
        return 0
    hypo, oxygen = _hypotension_grade(hypotension, vasopressors), _hypoxia_grade(o2_device, o2_flow)
    if hypo is None or oxygen is None:
        return None
    organ = max(hypo, oxygen)
    if fever is True:
        return organ or 1
    if fever is False:  # anti-cytokine therapy given or not recorded
        if organ == 0:
            return 0
        return organ if anticytokine_given else None
    # temperature missing
    return organ if anticytokine_given and organ else None


def ice_score(orientation: Any, naming: Any, commands: Any, writing: Any, attention: Any) -> int | None:
    """ASTCT ICE score 0-10: orientation 0-4, naming 0-3, commands, writing and attention 0-1 each.

    Any part missing, fractional or out of its range → None.
    """
    parts = [_whole(value, top) for value, top in zip((orientation, naming, commands, writing, attention),
                                                      ICE_PARTS_MAX)]
    return None if None in parts else sum(parts)


def _ice_grade(ice: Any, unarousable: Any) -> int | None:
    if unarousable is True:
        return 4  # ICE 0 because unarousable and unable to perform it
    score = _whole(ice, 10)
    if unarousable is not False or score is None:
        return None
    return next(grade for least, grade in ICE_GRADES if score >= least)  # ICE 0 while awake is G3


def icans_grade(ice: Any, unarousable: Any, consciousness: Any, seizure: Any, motor_weakness: Any,
                icp_edema: Any) -> int | None:
    """ASTCT ICANS grade (adults) 0-4: the most severe of its domains.

    ICE (arousable patient): 10 → 0, 7-9 → 1, 3-6 → 2, 0-2 → 3; ``unarousable``
    True → 4 (``ice`` may then be None). Consciousness ``alert`` 0 ·
    ``spontaneous`` 1 · ``voice`` 2 · ``tactile`` 3 · ``unarousable`` 4.
    Seizure ``none`` 0 · ``rapid_resolving`` 3 · ``prolonged_or_repetitive`` 4.
    Deep focal motor weakness (bool) True → 4. Raised ICP/oedema ``none`` 0 ·
    ``focal`` 3 · ``diffuse`` 4. A domain at grade 4 settles the grade even
    when others are missing; otherwise any missing or unknown domain → None.
    Tremor, myoclonus and intracranial haemorrhage do not count.
    """
    domains = [_ice_grade(ice, unarousable), _choice(CONSCIOUSNESS_GRADES, consciousness),
               _choice(SEIZURE_GRADES, seizure), _choice(MOTOR_WEAKNESS_GRADES, motor_weakness),
               _choice(EDEMA_GRADES, icp_edema)]
    if 4 in domains:
        return 4
    return None if None in domains else max(domains)
