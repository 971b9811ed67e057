"""Check messages take their rule's constants from the study parameters, in every language."""

import json
import shutil

import pytest

from ecrf.check_messages import message_faults, render
from ecrf.definitions import compile_form, with_parameters
from ecrf.errors import DefinitionError
from ecrf.study_folder import read_study
from tests.amendment import BUNDLED, make_v2


def _ld_messages(folder) -> dict:
    definition = read_study(folder)
    form = definition.forms["LD"]
    compiled = with_parameters(compile_form("LD", form["schema"], form["stage"]), definition.study["parameters"])
    return next(check.message for check in compiled.checks if check.id == "LD_FLU_DOSE")


def test_the_ld_dose_tolerance_change_from_10_to_5_percent_changes_the_text_in_both_languages(tmp_path):
    v1, v2 = _ld_messages(BUNDLED), _ld_messages(make_v2(tmp_path / "v2"))
    assert "by more than 10%" in v1["en"] and "超过10%" in v1["zh"]
    assert "by more than 5%" in v2["en"] and "超过5%" in v2["zh"]


@pytest.mark.parametrize(("message", "constants", "fault"), [
    ({"en": "over {limit}"}, {}, "{limit} is not one of the check's constants"),
    ({"en": "over {limit}"}, {"limit": "no_such"}, "no study parameter 'no_such'"),
    ({"en": "over {limit"}, {"limit": "alt_limit"}, "unbalanced braces"),
])
def test_a_placeholder_that_cannot_be_filled_is_a_fault(message, constants, fault):
    assert any(fault in said for _, said in message_faults(message, constants, {"alt_limit": 3}))


def test_render_leaves_messages_without_constants_alone():
    assert render({"en": "a {brace}"}, {}, {}) == {"en": "a {brace}"}


def test_study_check_names_the_message_whose_placeholder_is_undeclared(tmp_path):
    folder = shutil.copytree(BUNDLED, tmp_path / "s")
    ld = folder / "preconditioning" / "LD.json"
    schema = json.loads(ld.read_text(encoding="utf-8"))
    schema["x-ecrf-checks"][0]["message"]["en"] = "more than {uln}"
    ld.write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DefinitionError) as raised:
        read_study(folder)
    assert "preconditioning/LD.json: /x-ecrf-checks/0/message/en: {uln} is not one of the check's constants" \
        in raised.value.faults.lines()
