"""The expression translator: each operator of foreign conditions and calculations, and what it refuses."""

import pytest

from ecrf.expressions import compile_expression
from ecrf.odm_import.translate import Untranslatable, to_cel

SCOPE = {"I.AGE": "data.AGE", "I.H": "data.H", "I.W": "data.W", "SEX": "data.SEX", "age": "data.AGE"}


def resolve(reference, event):
    if event is not None:
        raise Untranslatable(f"[{event}][{reference}] names another event")
    if reference not in SCOPE:
        raise Untranslatable(f"{reference!r} is not an item of this form")
    return SCOPE[reference]


@pytest.mark.parametrize("source, cel", [
    ("I.AGE = 18", "data.AGE == 18.0"),
    ("I.AGE == 18", "data.AGE == 18.0"),
    ("I.AGE != 18", "data.AGE != 18.0"),
    ("I.AGE <> 18", "data.AGE != 18.0"),
    ("I.AGE < 18", "data.AGE < 18.0"),
    ("I.AGE <= 18", "data.AGE <= 18.0"),
    ("I.AGE > 18", "data.AGE > 18.0"),
    ("I.AGE >= 18", "data.AGE >= 18.0"),
    ("I.AGE eq 18", "data.AGE == 18.0"),
    ("I.AGE ne 18", "data.AGE != 18.0"),
    ("I.AGE lt 18", "data.AGE < 18.0"),
    ("I.AGE le 18", "data.AGE <= 18.0"),
    ("I.AGE gt 18", "data.AGE > 18.0"),
    ("I.AGE ge 18", "data.AGE >= 18.0"),
    ("I.AGE > 18 and SEX = 'F'", 'data.AGE > 18.0 && data.SEX == "F"'),
    ("I.AGE > 18 AND SEX = \"F\"", 'data.AGE > 18.0 && data.SEX == "F"'),
    ("I.AGE < 18 or I.AGE > 65", "data.AGE < 18.0 || data.AGE > 65.0"),
    ("I.AGE < 18 || I.AGE > 65 && SEX == 'M'", 'data.AGE < 18.0 || data.AGE > 65.0 && data.SEX == "M"'),
    ("not(I.AGE < 18)", "!((data.AGE < 18.0))"),
    ("!(I.AGE < 18)", "!((data.AGE < 18.0))"),
    ("I.W / (I.H * I.H)", "data.W / (data.H * data.H)"),
    ("I.W div I.H", "data.W / data.H"),
    ("I.W + I.H - 1", "data.W + data.H - 1.0"),
    ("-I.W * 2", "-data.W * 2.0"),
    ("$I.AGE >= 4E1", "data.AGE >= 40.0"),
    ("[age] >= .5", "data.AGE >= 0.5"),
    ("true", "true"),
])
def test_each_operator_translates_to_cel_that_compiles(source, cel):
    assert to_cel(source, resolve) == cel
    compile_expression(cel)


@pytest.mark.parametrize("source, reason", [
    ("count(//ItemData[@ItemOID='I.4']) = 0", "function count() has no translation"),
    ("round(I.W)", "function round() has no translation"),
    ("I.W ^ 2", "'^' (power) has no CEL operator"),
    ("I.OTHER > 1", "'I.OTHER' is not an item of this form"),
    ("[visit_2][age] > 1", "[visit_2][age] names another event"),
    ("I.AGE >", "expression ends too early"),
    ("(I.AGE > 1", "missing ')'"),
    ("I.AGE > 1 1", "unexpected '1'"),
    ("I.AGE # 1", "unexpected '# 1' at character 7"),
    ("", "empty expression"),
])
def test_an_expression_with_no_translation_says_why(source, reason):
    with pytest.raises(Untranslatable) as refused:
        to_cel(source, resolve)
    assert str(refused.value) == reason
