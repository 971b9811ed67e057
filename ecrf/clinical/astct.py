"""ASTCT consensus grading of CRS and ICANS (Lee et al., Biol Blood Marrow Transplant 2019)."""

from __future__ import annotations

from typing import Any

from ecrf.clinical._numbers import dec

FEVER_C = dec(38.0)
LOW_FLOW_MAX_L_MIN = dec(6)

HYPOTENSION_GRADES = {"none": 0, "fluids_only": 2}  # "vasopressor" grades by the count
# Oxygen support by device; nasal cannula grades by flow (≤ 6 L/min is low flow).
OXYGEN_GRADES = {"room_air": 0, "low_flow_nc": 2, "blow_by": 2, "high_flow_nc": 3, "facemask": 3,
                 "non_rebreather": 3, "venturi": 3, "cpap": 4, "bipap": 4, "mechanical_ventilation": 4}
CONSCIOUSNESS_GRADES = {"alert": 0, "spontaneous": 1, "voice": 2, "tactile": 3, "unarousable": 4}
SEIZURE_GRADES = {"none": 0, "rapid_resolving": 3, "prolonged_or_repetitive": 4}
EDEMA_GRADES = {"none": 0, "focal": 3, "diffuse": 4}


def _hypotension_grade(hypotension: Any, vasopressors: Any) -> int | None:
    if hypotension in HYPOTENSION_GRADES:
        return HYPOTENSION_GRADES[hypotension]
    if hypotension == "vasopressor":
        count = dec(vasopressors)
        if count is None or count < 1 or count != count.to_integral_value():
            return None
        return 3 if count == 1 else 4
    return None


def _hypoxia_grade(device: Any, flow: Any) -> int | None:
    if device not in OXYGEN_GRADES:
        return None
    grade = OXYGEN_GRADES[device]
    if device == "low_flow_nc":
        litres = dec(flow)
        if litres is not None and litres > LOW_FLOW_MAX_L_MIN:
            grade = 3
    return grade


def crs_grade(temp_max: Any, hypotension: Any, vasopressors: Any, o2_device: Any, o2_flow: Any = None,
              anticytokine_given: Any = False) -> int | None:
    """ASTCT CRS grade 0-4: the worse of hypotension and hypoxia, with fever ≥ 38.0 °C.

    Fever with neither is grade 1. After tocilizumab or steroids fever is no
    longer required; without fever and without such therapy there is no CRS (0).
    """
    temperature = dec(temp_max)
    hypo = _hypotension_grade(hypotension, vasopressors)
    oxygen = _hypoxia_grade(o2_device, o2_flow)
    if temperature is None or hypo is None or oxygen is None:
        return None
    fever = temperature >= FEVER_C
    treated = anticytokine_given is True
    if not fever and not treated:
        return 0
    organ = max(hypo, oxygen)
    if organ:
        return organ
    return 1 if fever else 0


def ice_score(orientation: Any, naming: Any, commands: Any, writing: Any, attention: Any) -> int | None:
    """ICE score 0-10: orientation (0-4), naming (0-3), commands, writing, attention (0-1 each)."""
    parts = [(orientation, 4), (naming, 3), (commands, 1), (writing, 1), (attention, 1)]
    total = 0
    for value, top in parts:
        number = dec(value)
        if number is None or number != number.to_integral_value() or not 0 <= number <= top:
            return None
        total += int(number)
    return total


def _ice_grade(ice: Any) -> int | None:
    score = dec(ice)
    if score is None or score != score.to_integral_value() or not 0 <= score <= 10:
        return None
    if score == 10:
        return 0
    if score >= 7:
        return 1
    if score >= 3:
        return 2
    return 3  # 0-2 while awake (ICE 0 with global aphasia is grade 3)


def icans_grade(ice: Any, unarousable: Any, consciousness: Any, seizure: Any, motor_weakness: Any,
                icp_edema: Any) -> int | None:
    """ASTCT ICANS grade (adults) 0-4: the most severe of its domains.

    ICE 10 → 0, 7-9 → 1, 3-6 → 2, 0-2 → 3; unarousable and unable to perform
    ICE → 4. Tremor, myoclonus and intracranial haemorrhage do not count.
    """
    if unarousable is True:
        ice_domain = 4
    elif unarousable is False:
        ice_domain = _ice_grade(ice)
    else:
        return None
    if ice_domain is None or consciousness not in CONSCIOUSNESS_GRADES or seizure not in SEIZURE_GRADES \
            or icp_edema not in EDEMA_GRADES or not isinstance(motor_weakness, bool):
        return None
    return max(ice_domain, CONSCIOUSNESS_GRADES[consciousness], SEIZURE_GRADES[seizure],
               4 if motor_weakness else 0, EDEMA_GRADES[icp_edema])
