"""Aplastic anaemia severity (modified Camitta, BSH 2024) and NIH response at every boundary."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrf.clinical.aplastic import counts_meeting_saa, is_responder, marrow_meets_saa, response, saa_severity

R = 60          # study reticulocyte threshold (automated count, BSH 2024 / NIH)
R_OLDER = 20    # the older criteria's threshold

# ---------------------------------------------------------------- marrow criterion


@pytest.mark.parametrize("cellularity, residual, meets", [
    (0, None, True), (24.9, None, True), (24.99, 90, True),           # < 25 %: residual not needed
    (25, 29.9, True), (25, 30, False), (25, 30.1, False),             # 25 % opens the band: residual < 30 %
    (37, 0, True), (37, 29.99, True), (37, 30, False),
    (50, 29.9, True), (50, 30, False),                                # 50 % is still in the band
    (50.01, 10, False), (50.1, None, False), (100, None, False),     # > 50 %: never, residual not needed
])
def test_marrow_criterion_with_the_25_to_50_percent_band(cellularity, residual, meets):
    assert marrow_meets_saa(cellularity, residual) is meets


@pytest.mark.parametrize("cellularity, residual", [
    (25, None), (50, None), (None, 10), ("10", None), (-1, None), (101, None), (40, "20"), (40, -1), (40, 101),
    (True, None), (10, "x"), (60, 101),   # malformed residual gives None even where it is not needed
])
def test_marrow_criterion_missing_or_malformed_gives_none(cellularity, residual):
    assert marrow_meets_saa(cellularity, residual) is None


# ---------------------------------------------------------------- count criteria


@pytest.mark.parametrize("anc, plt, retic, count", [
    (0.49, 19.9, 59.9, 3), (0.5, 20, 60, 0),                           # all strict
    (0.49, 20, 60, 1), (0.5, 19.9, 60, 1), (0.5, 20, 59.9, 1),
    (0.51, 20.1, 60.1, 0), (0, 0, 0, 3), (0.49, 19.99, 60, 2),
])
def test_count_criteria_are_strict(anc, plt, retic, count):
    assert counts_meeting_saa(anc, plt, retic, R) == count


@pytest.mark.parametrize("retic, threshold, count", [(40, 60, 1), (40, 20, 0), (19.9, 20, 1), (20, 20, 0)])
def test_reticulocyte_threshold_is_a_parameter(retic, threshold, count):
    assert counts_meeting_saa(1.0, 100, retic, threshold) == count


@pytest.mark.parametrize("args", [
    (None, 10, 10, R), (0.1, None, 10, R), (0.1, 10, None, R), (0.1, 10, 10, None), (0.1, 10, 10, 0),
    ("0.1", 10, 10, R), (0.1, 10, -1, R), (0.1, 10, 10, "60"),
])
def test_count_criteria_need_every_input(args):
    assert counts_meeting_saa(*args) is None


# ---------------------------------------------------------------- severity


@pytest.mark.parametrize("cellularity, residual, anc, plt, retic, severity", [
    (10, None, 0.3, 15, 80, "severe"),            # marrow + ANC + platelets
    (10, None, 0.19, 15, 80, "very_severe"),      # ANC < 0.2
    (10, None, 0.2, 15, 80, "severe"),            # 0.2 is not < 0.2
    (10, None, 0.21, 15, 80, "severe"),
    (10, None, 0, 0, 0, "very_severe"),
    (10, None, 0.6, 15, 59.9, "severe"),          # platelets + reticulocytes
    (10, None, 0.6, 15, 60, "non_severe"),        # reticulocytes = R is not < R: one criterion only
    (10, None, 0.3, 25, 80, "non_severe"),        # only one count criterion
    (10, None, 0.5, 20, 60, "non_severe"),        # every count exactly at its bound: none
    (24.9, None, 0.3, 15, 80, "severe"),
    (25, 29.9, 0.3, 15, 80, "severe"),            # band bottom with < 30 % residual
    (25, 30, 0.3, 15, 80, "non_severe"),
    (40, 20, 0.4, 10, 100, "severe"),             # 25-50 % band with < 30 % residual
    (40, 35, 0.1, 10, 100, "non_severe"),
    (50, 29.9, 0.1, 10, 100, "very_severe"),      # band top is inclusive
    (50.1, 5, 0.1, 5, 10, "non_severe"),          # marrow not hypocellular enough
    (60, None, 0.1, 5, 10, "non_severe"),
])
def test_saa_severity_needs_marrow_and_two_count_criteria(cellularity, residual, anc, plt, retic, severity):
    assert saa_severity(cellularity, residual, anc, plt, retic, R) == severity


@pytest.mark.parametrize("retic, r, severity", [(40, R, "severe"), (40, R_OLDER, "non_severe"),
                                                (19, R_OLDER, "severe"), (20, R_OLDER, "non_severe")])
def test_reticulocyte_threshold_60_versus_20_changes_the_severity(retic, r, severity):
    assert saa_severity(10, None, 0.6, 15, retic, r) == severity


@pytest.mark.parametrize("args, severity", [
    ((60, None, None, None, None), "non_severe"),      # marrow fails: counts not needed
    ((10, None, 0.6, 25, None), "non_severe"),         # two counts fail: the third cannot make 2
    ((None, None, 0.6, 25, 100), None),                # no severity without the marrow assessment
    ((40, None, 0.6, 25, 100), None),                  # ... which in the band includes residual cells
    ((10, None, 0.3, 15, None), "severe"),             # two counts hold: the third not needed
    ((10, None, None, 15, 40), None),                  # SAA, but vSAA needs the ANC
    ((10, None, 0.3, None, None), None),
    ((40, None, 0.3, 15, 40), None),                   # residual needed in the band
    ((None, None, 0.3, 15, 40), None),
    (("10", None, 0.3, 15, 40), None),
    ((60, None, "0.1", None, None), None),              # malformed input gives None even when settled
    ((10, None, 0.6, 25, -1), None),
])
def test_saa_severity_is_given_when_settled_and_none_otherwise(args, severity):
    assert saa_severity(*args, R) == severity


# ---------------------------------------------------------------- response


@pytest.mark.parametrize("hgb, anc, plt, retic, transfused, outcome", [
    (100, 1.0, 100, 80, False, "CR"),             # bounds inclusive
    (150, 3.0, 300, 80, False, "CR"),
    (100, 1.0, 100, 80, True, "CR"),              # CR does not look at transfusions
    (100, 1.0, 100, None, None, "CR"),            # ... nor at reticulocytes
    (99.9, 1.0, 100, 80, False, "PR"), (100, 0.99, 100, 80, False, "PR"), (100, 1.0, 99.9, 80, False, "PR"),
    (90, 0.6, 30, 80, False, "PR"),
    (90, 0.4, 30, 80, False, "PR"),               # only one count criterion left
    (90, 0.4, 15, 80, False, "NR"),               # counts still meet SAA (2 of 3)
    (90, 0.5, 19.9, 59.9, False, "NR"),
    (90, 0.5, 20, 59.9, False, "PR"),             # strict bounds: 0.5 and 20 no longer meet
    (90, 0.6, 30, 80, True, "NR"),                # transfused within 28 days: not PR
])
def test_response_at_its_bounds(hgb, anc, plt, retic, transfused, outcome):
    assert response(hgb, anc, plt, retic, transfused, R) == outcome


@pytest.mark.parametrize("transfused, required, outcome", [
    (True, True, "NR"), (False, True, "PR"), (True, False, "PR"), (False, False, "PR"), (None, False, "PR"),
])
def test_transfusion_free_requirement_is_a_study_parameter(transfused, required, outcome):
    assert response(90, 0.6, 30, 80, transfused, R, require_transfusion_free=required) == outcome


@pytest.mark.parametrize("retic, r, outcome", [(40, R, "NR"), (40, R_OLDER, "PR")])
def test_reticulocyte_threshold_changes_the_response(retic, r, outcome):
    assert response(90, 0.4, 30, retic, False, r) == outcome


@pytest.mark.parametrize("args, outcome", [
    ((90, 0.6, 30, None, True), "NR"),            # not CR and transfused: settled without reticulocytes
    ((None, 0.9, 150, None, True), "NR"),         # ANC < 1.0 rules out CR even with Hb missing
    ((90, 0.4, 15, None, None), "NR"),            # two count criteria hold: settled
    ((90, 0.6, 30, None, False), "PR"),           # ANC and platelets fail: reticulocytes cannot make 2 of 3
    ((90, 0.4, 30, None, False), None),           # ANC holds: reticulocytes could make it 2 of 3
    ((None, 1.0, 100, 80, False), None),          # CR depends on the missing Hb
    ((100, None, 100, 80, False), None),
    ((100, 1.0, None, 80, False), None),
    ((90, 0.6, 30, 80, None), None),              # transfusion status needed for PR
    ((90, 0.6, 30, 80, "no"), None),
    ((100, 1.0, 100, 80, "no"), None),           # malformed input gives None even when settled
    ((100, 1.0, 100, -80, False), None),
    (("90", 0.6, 30, 80, False), None),
])
def test_response_is_given_when_settled_and_none_otherwise(args, outcome):
    assert response(*args, R) == outcome


@pytest.mark.parametrize("required", [None, "yes", 1])
def test_transfusion_parameter_must_be_a_bool(required):
    assert response(90, 0.6, 30, 80, False, R, required) is None


@pytest.mark.parametrize("outcome, responder", [("CR", True), ("PR", True), ("NR", False), (None, None),
                                                ("cr", None), ("SD", None), (1, None), (["CR"], None)])
def test_responders_are_cr_and_pr(outcome, responder):
    assert is_responder(outcome) is responder


counts = st.floats(0, 200, allow_nan=False)


@given(counts, st.floats(0, 5, allow_nan=False), counts, counts, st.booleans())
def test_a_cr_always_meets_its_bounds_and_a_pr_never_meets_saa_counts(hgb, anc, plt, retic, transfused):
    outcome = response(hgb, anc, plt, retic, transfused, R)
    assert outcome in ("CR", "PR", "NR")
    if outcome == "CR":
        assert anc >= 1.0 and hgb >= 100 and plt >= 100
    if outcome == "PR":
        assert counts_meeting_saa(anc, plt, retic, R) < 2 and not transfused
