"""Conditions between the form language and ODM: a restricted ``if`` as CEL and back, exactly."""

import pytest

from ecrf.expressions import compile_expression
from ecrf.odm_extension.conditions import NotCanonical, exception_cel, from_exception, to_cel, to_condition


@pytest.mark.parametrize("condition, cel", [
    ({"properties": {"SEX": {"const": "F"}}, "required": ["SEX"]}, 'has(data.SEX) && data.SEX == "F"'),
    ({"properties": {"ALIVE": {"const": True}}, "required": ["ALIVE"]}, "has(data.ALIVE) && data.ALIVE == true"),
    ({"properties": {"AEOUT": {"enum": ["recovered", "fatal"]}}, "required": ["AEOUT"]},
     'has(data.AEOUT) && data.AEOUT in ["recovered", "fatal"]'),
    ({"properties": {"CELL": {"minimum": 25, "maximum": 50.5}}, "required": ["CELL"]},
     "has(data.CELL) && data.CELL >= 25.0 && data.CELL <= 50.5"),
    ({"properties": {"N": {"exclusiveMinimum": 0, "exclusiveMaximum": 3}}, "required": ["N"]},
     "has(data.N) && data.N > 0.0 && data.N < 3.0"),
    ({"required": ["TRIGGER"]}, "has(data.TRIGGER)"),
    ({"properties": {"T": {"const": 'say "hi" && \\ bye'}}, "required": ["T"]},
     'has(data.T) && data.T == "say \\"hi\\" && \\\\ bye"'),
])
def test_a_restricted_if_becomes_cel_that_compiles_and_reads_back_the_same(condition, cel):
    assert to_cel(condition, "data") == cel
    compile_expression(cel)
    assert to_condition(cel) == ("data", condition)
    assert from_exception(exception_cel(condition, "data")) == ("data", condition)


def test_a_row_condition_keeps_its_scope():
    condition = {"properties": {"AESER": {"const": True}}, "required": ["AESER"]}
    assert from_exception(exception_cel(condition, "row")) == ("row", condition)


@pytest.mark.parametrize("condition", [
    {"properties": {"X": {"const": 1}}, "required": []},  # a test on an item that need not be there
    {"properties": {"X": {"pattern": "^a"}}, "required": ["X"]},
    {"properties": {"X": {"const": None}}, "required": ["X"]},
    {"required": ["X"], "not": {}},
])
def test_other_shapes_are_not_canonical(condition):
    with pytest.raises(NotCanonical):
        to_cel(condition, "data")


@pytest.mark.parametrize("cel", [
    "data.AGE > 18",  # no has(): not what the export writes
    'has(data.X) || data.X == "a"',
    'has(data.X) && row.Y == "a"',
    'has(data.X) && data.X == "a',
    "has(data.X) && data.X in [1.0, 2.0",
])
def test_foreign_cel_is_not_read_as_a_condition(cel):
    with pytest.raises(NotCanonical):
        to_condition(cel)
