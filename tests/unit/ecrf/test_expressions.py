"""ecrf.expressions: bindings skip only values bound unchanged, in value and in type."""

import pytest

from ecrf.expressions import Bindings, as_doubles, compile_expression, evaluate


@pytest.mark.parametrize("first, second", [(True, 1.0), (1.0, True), (None, float("nan")), ({"a": [1]}, {"a": [True]})])
def test_a_value_equal_but_of_another_type_is_bound_again(first, second):
    bindings = Bindings()
    bindings.bind("x", first)
    bindings.bind("x", second)
    assert repr(bindings.values["x"]) == repr(as_doubles(second))


def test_a_dict_changed_in_place_and_bound_again_is_seen_by_expressions():
    bindings = Bindings()
    data = {"A": 1}
    bindings.bind("data", data, doubles=False)
    data["A"] = 2
    bindings.bind("data", data, doubles=False)
    assert evaluate(compile_expression("data.A == 2"), bindings.context) is True


def test_an_unchanged_value_is_not_converted_again():
    bindings = Bindings()
    bindings.bind("data", {"A": 1, "B": [1, 2]})
    converted = bindings.values["data"]
    bindings.bind("data", {"A": 1, "B": [1, 2]})
    assert bindings.values["data"] is converted and converted == {"A": 1.0, "B": [1.0, 2.0]}
