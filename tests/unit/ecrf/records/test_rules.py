"""The shared evaluation: when a record's state counts as changed (the save and the recheck both ask)."""

from __future__ import annotations

import pytest

from ecrf.records.rules import Evaluation

STATE = {"derived": {"BMI": 24.2}, "status": "complete", "definition": "h1", "flags": [],
         "failing": {"study": "s1", "found": []}}


def _evaluation(**state) -> Evaluation:
    merged = {**STATE, **state}
    return Evaluation(merged["derived"], [], [], merged["status"], [], merged)


@pytest.mark.parametrize("stored, differs", [
    (None, True),                                                             # nothing stored yet
    ({**STATE}, False),
    ({**STATE, "failing": {"study": "s0", "found": [["C", "/A"]]}}, False),   # failing only caches the answers
    ({**STATE, "derived": {"BMI": 24.3}}, True),
    ({**STATE, "status": "incomplete"}, True),
    ({**STATE, "definition": "h0"}, True),
    ({**STATE, "flags": [{"item": "/A", "flag": "H"}]}, True),
])
def test_a_state_differs_from_the_stored_one_unless_only_failing_changed(stored, differs):
    assert _evaluation().differs_from(stored) is differs
