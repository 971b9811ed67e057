"""REDCap branching logic and calculations → CEL, run here with the engine's CEL."""

import pytest

from ecrf.expressions import bindings, compile_expression, evaluate
from ecrf.odm_import.redcap_logic import Operand, to_cel
from ecrf.odm_import.translate import Untranslatable

KINDS = {"age": "number", "sex": "number", "preg": "boolean", "q1": "boolean", "q2": "boolean", "dob": "date",
         "visit": "date", "sx": "array", "tags": "array", "name": "string", "w": "number", "h": "number"}


def resolve(name, event):
    if name not in KINDS:
        raise Untranslatable(f"[{name}] unknown")
    if event is not None:
        return Operand(f"records.{event.upper()}.F.{name.upper()}", KINDS[name], None, name == "sx")
    return Operand(f"data.{name.upper()}", KINDS[name], name.upper(), name == "sx")


def run(source: str, data: dict, records: dict | None = None):
    context = bindings()
    context.bind("data", data)
    context.bind("records", records or {})
    return evaluate(compile_expression(to_cel(source, resolve)), context.context)


@pytest.mark.parametrize("source, data, expected", [
    ("[sex] = '2'", {"SEX": 2}, True),                          # a quoted code is the radio's integer code
    ("[sex] = \"2\"", {"SEX": 1}, False),
    ("[preg] = '1'", {"PREG": True}, True),                     # yes/no: '1' is true
    ("[preg] = '0'", {"PREG": True}, False),
    ("[age] >= 18 and [age] < 65", {"AGE": 40}, True),
    ("[age] >= 18 and [age] < 65", {"AGE": 70}, False),
    ("[sex] = '1' or [age] > 60", {"SEX": 2, "AGE": 61}, True),
    ("not([sex] = '1')", {"SEX": 2}, True),
    ("[sex] <> '1'", {"SEX": 2}, True),
    ("[name] > 50", {"NAME": "100"}, True),                    # a number in a text field orders as a number
    ("[name] = '1'", {"NAME": "1"}, True),
    ("[name] = ''", {}, True),                                  # blank in REDCap is "not filled" here
    ("[name] <> \"\"", {"NAME": "x"}, True),
    ("[sx(2)] = '1'", {"SX": [1, 2]}, True),                    # one box of a checkbox
    ("[sx(3)] = '1'", {"SX": [1, 2]}, False),
    ("[sx(3)] = '0'", {"SX": [1, 2]}, True),
    ("[sx(3)] = '0'", {}, True),                                # nothing ticked
    ("[tags(a)] = '1'", {"TAGS": ["a"]}, True),                 # text codes stay text
    ("round([w]*10000/([h]^2),1)", {"W": 70, "H": 175}, 22.9),
    ("round([age]/3, 2)", {"AGE": -10}, -3.33),
    ("rounddown(7.9)", {}, 7.0),
    ("roundup(7.1)", {}, 8.0),
    ("sum([q1],[q2],1)", {"Q1": True, "Q2": False}, 2.0),       # yes/no items count 1 or 0, as in REDCap scores
    ("[q1] + [q2]", {"Q1": True, "Q2": True}, 2.0),
    ("if([age] >= 65, 2, 1)", {"AGE": 70}, 2.0),
    ("abs([age] - 50)", {"AGE": 40}, 10.0),
    ("min([w], [h], 3)", {"W": 70, "H": 175}, 3.0),
    ("max([w], [h])", {"W": 70, "H": 175}, 175.0),
    ("datediff([dob],[visit],\"d\")", {"DOB": "2024-01-31", "VISIT": "2024-01-01"}, 30.0),   # unsigned by default
    ("datediff([dob],[visit],'d','ymd',true)", {"DOB": "2024-01-31", "VISIT": "2024-01-01"}, -30.0),
    ("datediff([dob],[visit],'y') >= 18", {"DOB": "2000-01-01", "VISIT": "2024-01-01"}, True),
    ("[enrol][age] > 17", {}, True),
])
def test_redcap_expressions_translate_to_cel_that_means_the_same(source, data, expected):
    records = {"ENROL": {"F": {"AGE": 18.0}}}
    result = run(source, data, records)
    assert result == pytest.approx(expected) if isinstance(expected, float) else result == expected


@pytest.mark.parametrize("source, reason", [
    ("[event-name] = 'v1'", "unknown"),
    ("datediff([dob], 'today', 'y')", "no clock"),
    ("sqrt([age])", "function sqrt() has no translation"),
    ("[age]^5", "exponent"),
    ("[sex] = 'abc'", "a numeric field compared with 'abc'"),
    ("[preg] = 'maybe'", "a yes/no field"),
    ("[sx] = '1'", "checkbox [sx] compared as a whole"),
    ("[age(1)] = '1'", "age is not a checkbox"),
    ("[sx(1)] = '2'", "compared with '1' or '0'"),
    ("([age] > 1", "missing ')'"),
    ("", "empty expression"),
    ("[age] > 1 ;", "unexpected"),
    ("(" * 33 + "[age]" + ")" * 33, "parentheses nested 33 deep"),
    ("- " * 2000 + "1", "nested too deeply"),
    ("[age] + " * 600 + "1", "nested too deeply"),
    ("[age] = 1 or " * 500 + "[age] = 2", "longer than 5000"),
])
def test_what_cel_cannot_say_raises_untranslatable_naming_why(source, reason):
    with pytest.raises(Untranslatable, match=reason.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("^", r"\^")):
        to_cel(source, resolve)
