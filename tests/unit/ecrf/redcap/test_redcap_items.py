"""One REDCap field → one item: types, validations, choices typed to their codes."""

import pytest

from ecrf.odm_import.reader import ImportError_
from ecrf.odm_import.report import Report
from ecrf.redcap.dictionary import Field
from ecrf.redcap.items import item_schema, parse_choices, typed_choices


def field(**values) -> Field:
    return Field(**{"line": 7, "name": "x", "form": "f", "type": "text", "label": "X", **values})


@pytest.mark.parametrize("validation, expected", [
    ("date_dmy", {"type": "string", "format": "date"}),
    ("datetime_seconds_mdy", {"type": "string", "format": "date-time"}),
    ("time", {"type": "string", "format": "time"}),
    ("integer", {"type": "integer"}),
    ("number_2dp_comma_decimal", {"type": "number"}),
    ("email", {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"}),
    ("zipcode", {"type": "string", "pattern": r"^\d{5}(-\d{4})?$"}),
    ("mrn_10d", {"type": "string"}),
])
def test_text_validation_types_become_the_item_type_or_format(validation, expected):
    schema = item_schema("dd.csv", field(validation=validation), Report("dd.csv", "t"))
    assert {k: v for k, v in schema.items() if k in ("type", "format", "pattern")} == expected


@pytest.mark.parametrize("codes, kind, consts", [
    (["1", "2"], "integer", [1, 2]),
    (["-1", "0"], "integer", [-1, 0]),
    (["01", "02"], "string", ["01", "02"]),     # a leading zero would be lost as a number
    (["1.5", "2"], "string", ["1.5", "2"]),
    (["a", "1"], "string", ["a", "1"]),
])
def test_choices_are_typed_to_their_codes(codes, kind, consts):
    assert typed_choices([(code, code) for code in codes]) == (kind, [{"const": c, "title": c2}
                                                                      for c, c2 in zip(consts, codes, strict=False)])


def test_choices_read_code_comma_label_and_keep_commas_in_labels():
    assert parse_choices("dd.csv", field(type="radio", choices="1, Yes, always | 0,No|")) == [
        ("1", "Yes, always"), ("0", "No")]


@pytest.mark.parametrize("values, message", [
    ({"type": "radio", "choices": ""}, "dd.csv:7: field 'x' is a radio without choices"),
    ({"type": "radio", "choices": ", Nothing"}, "dd.csv:7: field 'x': choice ', Nothing' has no code"),
    ({"type": "slider", "minimum": "10", "maximum": "5"}, "dd.csv:7: slider 'x' has ends '10'..'5'"),
    ({"type": "signature"}, "dd.csv:7: field 'x' has field type 'signature'"),
])
def test_inconsistent_fields_are_refused_with_the_line(values, message):
    with pytest.raises(ImportError_) as refused:
        item_schema("dd.csv", field(**values), Report("dd.csv", "t"))
    assert str(refused.value).startswith(message)


def test_dropped_field_types_are_reported_never_silent():
    report = Report("dd.csv", "t")
    assert item_schema("dd.csv", field(type="file"), report) is None
    assert [(e.oid, e.outcome, e.line) for e in report.entries] == [("x", "dropped", 7)]
