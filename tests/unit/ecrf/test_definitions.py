"""Compiled forms: conditions follow JSON Schema semantics; compiled forms are cached."""

import json

import pytest
from conftest import MINI_STUDY

from ecrf.definitions import compile_form, condition_holds


@pytest.mark.parametrize("condition, data, holds", [
    ({"properties": {"SEX": {"const": "F"}}, "required": ["SEX"]}, {"SEX": "F"}, True),
    ({"properties": {"SEX": {"const": "F"}}, "required": ["SEX"]}, {"SEX": "M"}, False),
    ({"properties": {"SEX": {"const": "F"}}, "required": ["SEX"]}, {}, False),
    ({"properties": {"SEX": {"const": "F"}}}, {}, True),
    ({"properties": {"N": {"minimum": 3}}, "required": ["N"]}, {"N": 3}, True),
    ({"properties": {"N": {"exclusiveMinimum": 3}}, "required": ["N"]}, {"N": 3}, False),
    ({"properties": {"N": {"maximum": 3}}, "required": ["N"]}, {"N": 3.5}, False),
    ({"properties": {"R": {"contains": {"const": "X"}}}, "required": ["R"]}, {"R": ["Y", "X"]}, True),
    ({"properties": {"C": {"enum": ["a", "b"]}}, "required": ["C"]}, {"C": "c"}, False),
    ({"properties": {"B": {"const": True}}, "required": ["B"]}, {"B": False}, False),
])
def test_conditions_follow_json_schema_semantics(condition, data, holds):
    assert condition_holds(condition, data) is holds


def test_compiled_forms_are_cached_by_content_hash():
    schema = json.loads((MINI_STUDY / "screening" / "VS.json").read_text())
    assert compile_form("VS", schema) is compile_form("VS", json.loads(json.dumps(schema)))
    changed = {**schema, "title": "Vitals"}
    assert compile_form("VS", changed) is not compile_form("VS", schema)
