"""ASTCT CRS and ICANS grading (Lee 2019): every device and domain, the fever rules, the ICE bands."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrf.clinical.astct import (
    CONSCIOUSNESS_GRADES,
    EDEMA_GRADES,
    OXYGEN_GRADES,
    SEIZURE_GRADES,
    crs_grade,
    icans_grade,
    ice_score,
)

FEVER = 38.5
NO_FEVER = 37.2

# ---------------------------------------------------------------- CRS


@pytest.mark.parametrize("temp, grade", [(37.9, 0), (37.99, 0), (38.0, 1), (38.01, 1), (41, 1)])
def test_fever_starts_at_38_0_inclusive_and_alone_is_grade_1(temp, grade):
    assert crs_grade(temp, "none", None, "room_air") == grade


@pytest.mark.parametrize("device, flow, grade", [
    ("room_air", None, 1),                 # fever with neither hypotension nor hypoxia
    ("low_flow_nc", None, 2),              # low flow without a recorded flow
    ("low_flow_nc", 1, 2), ("low_flow_nc", 5.99, 2), ("low_flow_nc", 6, 2),  # ≤ 6 L/min is G2
    ("low_flow_nc", 6.01, 3), ("low_flow_nc", 10, 3),                         # > 6 L/min is G3
    ("blow_by", None, 2),
    ("high_flow_nc", None, 3), ("high_flow_nc", 40, 3), ("high_flow_nc", 5, 3),  # high flow is G3 whatever the flow
    ("facemask", None, 3), ("non_rebreather", None, 3), ("venturi", None, 3),
    ("cpap", None, 4), ("bipap", None, 4), ("mechanical_ventilation", None, 4),
])
def test_each_oxygen_device_grades_hypoxia(device, flow, grade):
    assert crs_grade(FEVER, "none", None, device, flow) == grade


def test_every_listed_oxygen_device_is_graded():
    assert set(OXYGEN_GRADES) == {"room_air", "low_flow_nc", "blow_by", "high_flow_nc", "facemask", "non_rebreather",
                                  "venturi", "cpap", "bipap", "mechanical_ventilation"}


@pytest.mark.parametrize("hypotension, vasopressors, grade", [
    ("none", None, 1),
    ("fluids_only", None, 2),
    ("fluids_only", 0, 2),                  # the count is ignored unless vasopressors were needed
    ("vasopressor", 1, 3), ("vasopressor", 1.0, 3),   # one vasopressor (vasopressin not counted)
    ("vasopressor", 2, 4), ("vasopressor", 3, 4),     # multiple vasopressors
])
def test_hypotension_grades_by_fluids_and_vasopressor_count(hypotension, vasopressors, grade):
    assert crs_grade(FEVER, hypotension, vasopressors, "room_air") == grade


@pytest.mark.parametrize("hypotension, vasopressors, device, flow, grade", [
    ("fluids_only", None, "facemask", None, 3),
    ("vasopressor", 1, "low_flow_nc", 2, 3),
    ("fluids_only", None, "bipap", None, 4),
    ("vasopressor", 2, "low_flow_nc", 2, 4),
    ("fluids_only", None, "blow_by", None, 2),
])
def test_crs_grade_is_the_worse_of_hypotension_and_hypoxia(hypotension, vasopressors, device, flow, grade):
    assert crs_grade(FEVER, hypotension, vasopressors, device, flow) == grade


@pytest.mark.parametrize("hypotension, vasopressors, device", [
    ("none", None, "room_air"), ("fluids_only", None, "room_air"), ("vasopressor", 2, "bipap"),
    ("none", None, "mechanical_ventilation"),
    (None, None, None),                             # settled without them: no fever, no therapy is no CRS
])
def test_without_fever_or_anticytokine_therapy_there_is_no_crs(hypotension, vasopressors, device):
    assert crs_grade(NO_FEVER, hypotension, vasopressors, device, None, False) == 0
    assert crs_grade(37.99, hypotension, vasopressors, device) == 0


@pytest.mark.parametrize("temp, hypotension, vasopressors, device, grade", [
    (NO_FEVER, "vasopressor", 1, "room_air", 3),      # after tocilizumab/steroids fever is not required
    (NO_FEVER, "vasopressor", 2, "room_air", 4),
    (NO_FEVER, "fluids_only", None, "room_air", 2),
    (NO_FEVER, "none", None, "low_flow_nc", 2),
    (NO_FEVER, "none", None, "cpap", 4),
    (NO_FEVER, "none", None, "room_air", 0),          # treated, afebrile, neither: 0
    (FEVER, "none", None, "room_air", 1),             # treated, febrile, neither: 1
    (FEVER, "fluids_only", None, "facemask", 3),
    (None, "vasopressor", 1, "room_air", 3),          # temperature missing but hypotension settles it
])
def test_after_anticytokine_therapy_hypotension_and_hypoxia_grade_alone(temp, hypotension, vasopressors, device,
                                                                         grade):
    assert crs_grade(temp, hypotension, vasopressors, device, None, True) == grade


@pytest.mark.parametrize("args", [
    (None, "none", None, "room_air"),                       # temperature needed
    (None, "none", None, "room_air", None, True),           # treated, neither: 0 or 1 depends on fever
    (None, "vasopressor", 1, "room_air", None, False),
    (FEVER, None, None, "room_air"), (FEVER, "none", None, None),
    (FEVER, "unknown", None, "room_air"), (FEVER, "none", None, "tent"),
    (NO_FEVER, "unknown", None, "room_air"), (NO_FEVER, "none", None, "tent"),  # malformed even when irrelevant
    (FEVER, "none", "two", "room_air"), (FEVER, "none", None, "bipap", "high"),
    (FEVER, "vasopressor", None, "room_air"),               # vasopressor count missing
    (FEVER, "vasopressor", 0, "room_air"), (FEVER, "vasopressor", 1.5, "room_air"),
    (FEVER, "vasopressor", -1, "room_air"), (FEVER, "vasopressor", "1", "room_air"),
    (FEVER, "none", None, "low_flow_nc", "4"), (FEVER, "none", None, "low_flow_nc", -1),
    ("38.5", "none", None, "room_air"), (True, "none", None, "room_air"),
    (FEVER, ["none"], None, "room_air"), (FEVER, "none", None, {"room_air": 1}),
    (FEVER, "none", None, "room_air", None, "yes"), (NO_FEVER, "none", None, "room_air", None, 1),
    (NO_FEVER, "vasopressor", 1, "room_air", None, None),   # afebrile: depends on unrecorded therapy
])
def test_crs_missing_or_malformed_inputs_give_no_grade(args):
    assert crs_grade(*args) is None


def test_crs_settled_grades_survive_an_unrecorded_therapy_flag():
    assert crs_grade(FEVER, "vasopressor", 1, "room_air", None, None) == 3
    assert crs_grade(NO_FEVER, "none", None, "room_air", None, None) == 0


@given(st.floats(35, 42), st.sampled_from(["none", "fluids_only", "vasopressor"]), st.integers(1, 4),
       st.sampled_from(sorted(OXYGEN_GRADES)), st.booleans())
def test_crs_grade_is_0_to_4_and_at_least_1_with_fever(temp, hypotension, vasopressors, device, treated):
    grade = crs_grade(temp, hypotension, vasopressors, device, None, treated)
    assert grade in range(5)
    assert (grade >= 1) if temp >= 38.0 else (grade == 0 or treated)


# ---------------------------------------------------------------- ICE


@pytest.mark.parametrize("parts, score", [
    ((4, 3, 1, 1, 1), 10), ((0, 0, 0, 0, 0), 0), ((3, 2, 1, 0, 1), 7), ((4.0, 3.0, 1.0, 1.0, 1.0), 10),
    ((5, 3, 1, 1, 1), None), ((4, 4, 1, 1, 1), None), ((4, 3, 2, 1, 1), None), ((4, 3, 1, 2, 1), None),
    ((4, 3, 1, 1, 2), None), ((-1, 3, 1, 1, 1), None), ((4.5, 3, 1, 1, 1), None),
    ((4, None, 1, 1, 1), None), ((None, 3, 1, 1, 1), None), ((4, 3, 1, 1, None), None),
    (("4", 3, 1, 1, 1), None), ((4, 3, True, 1, 1), None),
])
def test_ice_score_sums_its_parts_within_their_ranges(parts, score):
    assert ice_score(*parts) == score


# ---------------------------------------------------------------- ICANS

CALM = dict(unarousable=False, consciousness="alert", seizure="none", motor_weakness=False, icp_edema="none")


@pytest.mark.parametrize("ice, grade", [
    (10, 0), (9, 1), (8, 1), (7, 1), (6, 2), (5, 2), (4, 2), (3, 2), (2, 3), (1, 3), (0, 3), (10.0, 0), (7.0, 1),
])
def test_icans_by_ice_score_bands(ice, grade):
    assert icans_grade(ice, **CALM) == grade


def test_ice_zero_while_awake_is_grade_3_but_unarousable_is_grade_4():
    assert icans_grade(0, **CALM) == 3
    assert icans_grade(0, **{**CALM, "unarousable": True}) == 4
    assert icans_grade(None, **{**CALM, "unarousable": True}) == 4


@pytest.mark.parametrize("domain, value, grade", [
    ("consciousness", "alert", 0), ("consciousness", "spontaneous", 1), ("consciousness", "voice", 2),
    ("consciousness", "tactile", 3), ("consciousness", "unarousable", 4),
    ("seizure", "none", 0), ("seizure", "rapid_resolving", 3), ("seizure", "prolonged_or_repetitive", 4),
    ("motor_weakness", False, 0), ("motor_weakness", True, 4),
    ("icp_edema", "none", 0), ("icp_edema", "focal", 3), ("icp_edema", "diffuse", 4),
])
def test_each_icans_domain_grades_on_its_own(domain, value, grade):
    assert icans_grade(10, **{**CALM, domain: value}) == grade


@pytest.mark.parametrize("ice, change, grade", [
    (8, {"consciousness": "voice"}, 2),           # ICE G1, consciousness G2
    (5, {"consciousness": "spontaneous"}, 2),     # ICE G2 beats consciousness G1
    (2, {"consciousness": "voice"}, 3),
    (9, {"seizure": "rapid_resolving"}, 3),
    (6, {"icp_edema": "diffuse"}, 4),
    (10, {"consciousness": "tactile", "seizure": "rapid_resolving", "icp_edema": "focal"}, 3),
])
def test_icans_takes_the_most_severe_domain(ice, change, grade):
    assert icans_grade(ice, **{**CALM, **change}) == grade


@pytest.mark.parametrize("ice, change", [
    (None, {"unarousable": True, "consciousness": None, "seizure": None}),   # ICE not performable
    (None, {"consciousness": "unarousable"}),
    (None, {"motor_weakness": True, "unarousable": None}),
    (None, {"icp_edema": "diffuse", "seizure": None}),
    (None, {"seizure": "prolonged_or_repetitive", "unarousable": None, "consciousness": None}),
])
def test_a_grade_4_domain_settles_icans_even_with_other_domains_missing(ice, change):
    assert icans_grade(ice, **{**CALM, **change}) == 4


@pytest.mark.parametrize("ice, change", [
    (None, {}),                                                   # arousable: ICE needed
    (10, {"unarousable": None}), (10, {"unarousable": "no"}), (10, {"unarousable": 0}),
    (10, {"consciousness": "dazed"}), (10, {"consciousness": None}), (10, {"consciousness": ["alert"]}),
    (10, {"seizure": None}), (10, {"seizure": "yes"}),
    (10, {"motor_weakness": None}), (10, {"motor_weakness": "no"}), (10, {"motor_weakness": 0}),
    (10, {"icp_edema": None}), (10, {"icp_edema": "global"}),
    (11, {}), (-1, {}), (5.5, {}), ("10", {}), (True, {}),
    (2, {"seizure": None}),                                       # G3 so far, a missing seizure could make it 4
    (None, {"unarousable": True, "consciousness": "dazed"}),      # malformed even beside a grade-4 domain
    (11, {"motor_weakness": True}),
])
def test_icans_missing_or_malformed_inputs_give_no_grade(ice, change):
    assert icans_grade(ice, **{**CALM, **change}) is None


def test_icans_domain_tables_hold_the_astct_codes():
    assert CONSCIOUSNESS_GRADES == {"alert": 0, "spontaneous": 1, "voice": 2, "tactile": 3, "unarousable": 4}
    assert SEIZURE_GRADES == {"none": 0, "rapid_resolving": 3, "prolonged_or_repetitive": 4}
    assert EDEMA_GRADES == {"none": 0, "focal": 3, "diffuse": 4}


@given(st.integers(0, 9), st.integers(1, 10))
def test_a_lower_ice_score_never_gives_a_lower_icans_grade(a, step):
    b = min(10, a + step)
    assert icans_grade(a, **CALM) >= icans_grade(b, **CALM)
