"""The compiled validator may only say yes where the explaining validator says yes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecrf.definitions import compile_form
from ecrf.i18n import translate
from ecrf.records.validation import Fault, validate
from ecrf.study_folder import read_study

STUDY = read_study(Path(__file__).resolve().parents[4] / "forms" / "cd7-cart-saa")
FORMS = {oid: compile_form(oid, form["schema"], form["stage"]) for oid, form in STUDY.forms.items()}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["2026-02-03", "2026-02-30", "2026-02-03T10:00:00Z", "2026-02-03T10:00", "10:30", "25:00",
                     "Y", "N", "ND", "row1", "abc\n", "0", "-1"]),
)
rows = st.lists(st.dictionaries(st.sampled_from(["row_id", "AETERM", "AESTDTC", "AETOXGR", "CMTRT", "X"]),
                                scalars, max_size=4), max_size=3)


def form_data(form):
    keys = [item.oid for item in form.items] + ["UNKNOWN"]
    choices = {item.oid: [c.value for c in item.choices] for item in form.items}

    def value_for(key):
        options = [scalars, rows, st.lists(scalars, max_size=3)]
        if choices.get(key):
            options.append(st.sampled_from(choices[key]))
        return st.one_of(*options)

    return st.fixed_dictionaries({}, optional={key: value_for(key) for key in keys})


@pytest.mark.parametrize("oid", sorted(FORMS))
def test_the_compiled_validator_never_accepts_what_jsonschema_rejects(oid):
    form = FORMS[oid]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(form_data(form))
    def agree(data):
        try:
            fast = form.fast_validator.is_valid(data)
        except Exception:
            fast = False
        slow = not list(form.validator.iter_errors(data))
        if fast:
            assert slow, f"compiled validator accepted {data!r} which jsonschema rejects"

    agree()


def test_validation_names_the_same_faults_with_or_without_the_fast_path():
    form = FORMS["VS"]
    bad = {"WEIGHT": "heavy", "VSDTC": "2026-02-30", "NOPE": 1}
    paths = [e.path for e in validate(form, bad)]
    assert paths == ["/NOPE", "/VSDTC", "/WEIGHT"]
    assert validate(form, {"WEIGHT": 70.5}) == []


@pytest.mark.parametrize(("form", "data", "english"), [
    ("VS", {"WEIGHT": 900}, "900 is greater than the maximum of 300"),
    ("VS", {"WEIGHT": "heavy"}, "'heavy' is not of type number"),
    ("VS", {"VSDTC": "2026-02-30"}, None),  # the date's own explanation for the API
    ("DM", {"SEX": "X"}, None),
    ("VS", {"NOPE": 1}, "unknown item 'NOPE' in form VS"),
])
def test_each_fault_carries_a_catalog_key_with_a_chinese_translation_and_the_api_keeps_its_english(
        app, form, data, english):
    faults = validate(FORMS[form], data)
    with app.test_request_context():
        from_catalog = {fault.key: translate(fault.key, "zh") for fault in faults}
    assert faults and all(isinstance(fault, Fault) and fault.key for fault in faults), faults
    assert all(zh != key for key, zh in from_catalog.items()), from_catalog  # each key has its Chinese
    if english:
        assert faults[0].message == english == faults[0].key % faults[0].args
