"""Aplastic anemia severity (modified Camitta) and NIH response at every boundary."""

import pytest

from ecrf.clinical.aplastic import counts_meeting_saa, is_responder, marrow_meets_saa, response, saa_severity

R = 60


@pytest.mark.parametrize("cellularity, residual, meets", [
    (24.9, None, True), (25, 29.9, True), (25, 30, False), (50, 29.9, True), (50, 30, False),
    (50.1, 10, False), (25, None, None), (None, 10, None),
])
def test_marrow_criterion(cellularity, residual, meets):
    assert marrow_meets_saa(cellularity, residual) is meets


@pytest.mark.parametrize("anc, plt, retic, count", [
    (0.49, 19.9, 59.9, 3), (0.5, 20, 60, 0), (0.49, 20, 60, 1), (0.5, 19.9, 60, 1), (0.5, 20, 59.9, 1),
])
def test_count_criteria_are_strict(anc, plt, retic, count):
    assert counts_meeting_saa(anc, plt, retic, R) == count


@pytest.mark.parametrize("cellularity, residual, anc, plt, retic, severity", [
    (10, None, 0.3, 15, 80, "severe"),            # marrow + ANC + platelets
    (10, None, 0.19, 15, 80, "very_severe"),      # ANC < 0.2
    (10, None, 0.2, 15, 80, "severe"),            # 0.2 is not < 0.2
    (10, None, 0.3, 25, 80, "non_severe"),        # only one count criterion
    (60, None, 0.1, 5, 10, "non_severe"),         # marrow not hypocellular enough
    (40, 20, 0.4, 10, 100, "severe"),             # 25-50 % band with < 30 % residual
    (40, 35, 0.4, 10, 100, "non_severe"),
    (10, None, 0.6, 15, 59, "severe"),            # platelets + reticulocytes
    (40, None, 0.4, 10, 100, None),               # residual needed in the band
])
def test_saa_severity(cellularity, residual, anc, plt, retic, severity):
    assert saa_severity(cellularity, residual, anc, plt, retic, R) == severity


def test_reticulocyte_threshold_is_a_parameter_that_changes_the_answer():
    assert saa_severity(10, None, 0.6, 15, 40, 60) == "severe"
    assert saa_severity(10, None, 0.6, 15, 40, 20) == "non_severe"


@pytest.mark.parametrize("hgb, anc, plt, retic, transfused, outcome", [
    (100, 1.0, 100, 80, False, "CR"),             # bounds inclusive
    (99.9, 1.0, 100, 80, False, "PR"), (100, 0.99, 100, 80, False, "PR"), (100, 1.0, 99.9, 80, False, "PR"),
    (90, 0.6, 30, 80, True, "NR"),                # transfused within 28 days: not PR
    (90, 0.4, 15, 80, False, "NR"),               # counts still meet SAA (2 of 3)
    (90, 0.4, 30, 80, False, "PR"),               # only one count criterion left
    (100, 1.0, 100, 80, True, "CR"),              # CR does not look at transfusions
])
def test_response(hgb, anc, plt, retic, transfused, outcome):
    assert response(hgb, anc, plt, retic, transfused, R) == outcome


def test_transfusion_rule_is_a_study_parameter():
    assert response(90, 0.6, 30, 80, True, R, require_transfusion_free=False) == "PR"


@pytest.mark.parametrize("args", [(None, 1, 100, 80, False), (100, 1, None, 80, False), (90, 0.6, 30, None, False),
                                  (90, 0.6, 30, 80, None)])
def test_response_with_missing_inputs_is_none(args):
    assert response(*args, R) is None


def test_responders_are_cr_and_pr():
    assert [is_responder(r) for r in ("CR", "PR", "NR", None)] == [True, True, False, False]
