"""ASTCT CRS and ICANS grading, every domain and the fever rules."""

import pytest

from ecrf.clinical.astct import crs_grade, icans_grade, ice_score


@pytest.mark.parametrize("temp, hypotension, vasopressors, device, flow, treated, grade", [
    (37.9, "none", None, "room_air", None, False, 0),           # no fever, no therapy: no CRS
    (37.9, "vasopressor", 2, "bipap", None, False, 0),          # organ signs without fever are not CRS
    (38.0, "none", None, "room_air", None, False, 1),           # fever alone: G1 (38.0 inclusive)
    (38.0, "fluids_only", None, "room_air", None, False, 2),
    (38.5, "none", None, "low_flow_nc", 6, False, 2),           # ≤ 6 L/min is low flow
    (38.5, "none", None, "low_flow_nc", 6.5, False, 3),         # > 6 L/min is high flow
    (38.5, "none", None, "blow_by", None, False, 2),
    (38.5, "none", None, "high_flow_nc", 8, False, 3),
    (38.5, "none", None, "facemask", None, False, 3),
    (38.5, "none", None, "non_rebreather", None, False, 3),
    (38.5, "none", None, "venturi", None, False, 3),
    (38.5, "vasopressor", 1, "room_air", None, False, 3),       # one vasopressor (vasopressin not counted)
    (38.5, "vasopressor", 2, "room_air", None, False, 4),       # multiple vasopressors
    (38.5, "none", None, "cpap", None, False, 4),
    (38.5, "none", None, "bipap", None, False, 4),
    (38.5, "none", None, "mechanical_ventilation", None, False, 4),
    (38.5, "fluids_only", None, "facemask", None, False, 3),    # the worse of the two
    (37.0, "vasopressor", 1, "room_air", None, True, 3),        # after tocilizumab/steroids fever is not needed
    (37.0, "none", None, "room_air", None, True, 0),
    (37.0, "fluids_only", None, "room_air", None, True, 2),
])
def test_crs_grade(temp, hypotension, vasopressors, device, flow, treated, grade):
    assert crs_grade(temp, hypotension, vasopressors, device, flow, treated) == grade


@pytest.mark.parametrize("args", [
    (None, "none", None, "room_air"), (38.5, "unknown", None, "room_air"), (38.5, "none", None, "tent"),
    (38.5, "vasopressor", None, "room_air"), (38.5, "vasopressor", 0, "room_air"), ("38.5", "none", None, "room_air"),
])
def test_crs_missing_or_unknown_inputs_give_no_grade(args):
    assert crs_grade(*args) is None


@pytest.mark.parametrize("parts, score", [((4, 3, 1, 1, 1), 10), ((0, 0, 0, 0, 0), 0), ((3, 2, 1, 0, 1), 7),
                                          ((5, 3, 1, 1, 1), None), ((4, 3, 2, 1, 1), None), ((4, None, 1, 1, 1), None),
                                          ((4.5, 3, 1, 1, 1), None)])
def test_ice_score(parts, score):
    assert ice_score(*parts) == score


CALM = dict(unarousable=False, consciousness="alert", seizure="none", motor_weakness=False, icp_edema="none")


@pytest.mark.parametrize("ice, grade", [(10, 0), (9, 1), (7, 1), (6, 2), (3, 2), (2, 3), (0, 3)])
def test_icans_by_ice_score(ice, grade):
    assert icans_grade(ice, **{k: v for k, v in CALM.items()}) == grade


def test_ice_zero_awake_is_grade_3_but_unarousable_is_grade_4():
    assert icans_grade(0, **CALM) == 3
    assert icans_grade(None, **{**CALM, "unarousable": True}) == 4


@pytest.mark.parametrize("domain, value, grade", [
    ("consciousness", "spontaneous", 1), ("consciousness", "voice", 2), ("consciousness", "tactile", 3),
    ("consciousness", "unarousable", 4), ("seizure", "rapid_resolving", 3), ("seizure", "prolonged_or_repetitive", 4),
    ("motor_weakness", True, 4), ("icp_edema", "focal", 3), ("icp_edema", "diffuse", 4),
])
def test_icans_takes_the_most_severe_domain(domain, value, grade):
    assert icans_grade(10, **{**CALM, domain: value}) == grade


@pytest.mark.parametrize("change", [{"consciousness": "dazed"}, {"seizure": None}, {"unarousable": None}, {"motor_weakness": "no"}])
def test_icans_missing_or_unknown_inputs_give_no_grade(change):
    assert icans_grade(10, **{**CALM, **change}) is None


def test_icans_needs_ice_when_arousable():
    assert icans_grade(None, **CALM) is None
