"""A file's text becomes the item's type: numbers, booleans, codes; anything else is refused with a reason."""

import pytest

from ecrf.data_import.values import number, typed
from ecrf.definitions import Choice, Item


def item(kind: str, choices=()) -> Item:
    return Item(oid="X", kind=kind, schema={}, title="X", choices=[Choice(c, str(c), {}) for c in choices])


@pytest.mark.parametrize("kind, choices, text, value", [
    ("integer", (), "12", 12),
    ("integer", (), "12.0", 12),
    ("number", (), "70", 70),
    ("number", (), "36.8", 36.8),
    ("number", (), "1e3", 1000.0),
    ("boolean", (), "true", True),
    ("boolean", (), "0", False),
    ("choice", ("M", "F"), "F", "F"),
    ("choice", (1, 2), "2", 2),
    ("choice", (1, 2), "2.0", 2),
    ("multichoice", ("ASIAN", "WHITE"), "ASIAN,WHITE", ["ASIAN", "WHITE"]),
    ("date", (), "2026-03-02", "2026-03-02"),
    ("text", (), " kept as given ", " kept as given "),
])
def test_text_is_typed_to_the_item(kind, choices, text, value):
    assert typed(item(kind, choices), text) == value
    assert type(typed(item(kind, choices), text)) is type(value)


@pytest.mark.parametrize("kind, choices, text, says", [
    ("integer", (), "12.5", "not a whole number"),
    ("number", (), "abc", "not a number"),
    ("number", (), "NaN", "not a finite number"),
    ("boolean", (), "maybe", "not yes/no"),
    ("choice", ("M", "F"), "X", "not one of the codes M, F"),
    ("group", (), "1", "takes no single value"),
])
def test_text_that_fits_no_value_is_refused_with_the_reason(kind, choices, text, says):
    with pytest.raises(ValueError, match=says):
        typed(item(kind, choices), text)


def test_a_number_written_whole_stays_an_integer():
    assert (number("135"), number("135.0")) == (135, 135.0)
    assert isinstance(number("135"), int) and isinstance(number("135.0"), float)
