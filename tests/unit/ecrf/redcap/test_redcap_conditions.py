"""Simple REDCap branching logic → a JSON Schema condition; the rest → None (the caller keeps CEL)."""

import pytest

from ecrf.redcap.conditions import condition
from tests.unit.ecrf.test_odm_import_redcap_logic import resolve


@pytest.mark.parametrize("source, expected", [
    ("[sex] = '2'", {"properties": {"SEX": {"const": 2}}, "required": ["SEX"]}),
    ("[preg] = '1'", {"properties": {"PREG": {"const": True}}, "required": ["PREG"]}),
    ("[age] >= 18 and [age] < 65", {"properties": {"AGE": {"minimum": 18, "exclusiveMaximum": 65}},
                                    "required": ["AGE"]}),
    ("[sex] = '1' or [sex] = '2'", {"properties": {"SEX": {"enum": [1, 2]}}, "required": ["SEX"]}),
    ("[sx(3)] = '1' and [sex] = '2'", {"properties": {"SX": {"contains": {"const": 3}}, "SEX": {"const": 2}},
                                       "required": ["SX", "SEX"]}),
    ("[sex] = '1' or [age] > 3", None),          # or across fields: only CEL can say it
    ("[sex] <> '1'", None),
    ("[name] = ''", None),
    ("[enrol][age] > 17", None),                 # another event: not a test on this form
    ("[age] * 2 > 3", None),
    ("[sex] = '1' and [sex] = '2'", None),
])
def test_simple_tests_on_this_form_become_a_json_schema_condition(source, expected):
    assert condition(source, resolve) == expected
