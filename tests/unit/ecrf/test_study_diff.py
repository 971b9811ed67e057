"""``ecrf study diff``: every change a reviewer must see is listed; what carries no meaning is not."""

import json
import shutil
from pathlib import Path

import pytest

from ecrf.study_diff import diff_folders
from tests.conftest import BUNDLED_STUDY


def changed(tmp_path: Path, file: str, change) -> Path:
    """A copy of the bundled study with ``change`` applied to one of its JSON files."""
    copy = tmp_path / "copy"
    shutil.copytree(BUNDLED_STUDY, copy)
    document = json.loads((copy / file).read_text())
    change(document)
    (copy / file).write_text(json.dumps(document, ensure_ascii=False))
    return copy


def _pop_required(form: dict) -> None:
    form["required"].remove("BRTHDTC")


@pytest.mark.parametrize(
    "file, change, expected",
    [
        (
            "screening/DM.json",
            lambda f: f["properties"]["SEX"].update(title="Gender"),
            'form DM item /SEX: title: "Sex" → "Gender"',
        ),
        ("screening/DM.json", lambda f: f["properties"]["SEX"]["oneOf"].pop(), "form DM item /SEX: oneOf:"),
        ("screening/DM.json", _pop_required, 'form DM rules: /BRTHDTC: {"required": true} → (absent)'),
        (
            "screening/DM.json",
            lambda f: f["allOf"][0]["if"]["properties"]["SEX"].update(const="M"),
            "form DM rules: /CHILDPOT.required when:",
        ),
        (
            "screening/LB_HEM.json",
            lambda f: f["properties"]["HGB"].update(maximum=300),
            "form LB_HEM item /HGB: maximum: 250 → 300",
        ),
        (
            "screening/LB_HEM.json",
            lambda f: f["properties"]["HGB"].update({"x-ecrf-unit": "g/dL"}),
            'form LB_HEM item /HGB: x-ecrf-unit: "g/L" → "g/dL"',
        ),
        (
            "screening/LB_HEM.json",
            lambda f: f["properties"]["HGB"]["x-ecrf-labels"].update(zh="Hb"),
            'form LB_HEM item /HGB: x-ecrf-labels.zh: "血红蛋白" → "Hb"',
        ),
        (
            "logs/AE.json",
            lambda f: f["x-ecrf-checks"][0].update(severity="warning"),
            'form AE check: AE_END_AFTER_START.severity: "query" → "warning"',
        ),
        (
            "logs/AE.json",
            lambda f: f["properties"]["AE"]["items"]["properties"]["AETERM"].update(maxLength=10),
            "form AE item /AE/*/AETERM: maxLength:",
        ),
        (
            "screening/LB_HEM.json",
            lambda f: f["x-ecrf-derived"]["HGB_STD"].update(expr="1.0"),
            "form LB_HEM derivation: HGB_STD.expr:",
        ),
        ("study.json", lambda s: s["events"][3].update(day=1), "schedule event D0: day: 0 → 1"),
        ("study.json", lambda s: s["events"].insert(0, s["events"].pop(1)), "schedule: event order:"),
        ("study.json", lambda s: s["lab_ranges"][0].update(high=41), "lab ranges: ranges:"),
        ("study.json", lambda s: s.update(version="1.0.1"), 'study: version: "1.0.0" → "1.0.1"'),
    ],
)
def test_each_kind_of_change_is_listed_where_it_is(tmp_path, file, change, expected):
    differences = [str(d) for d in diff_folders(BUNDLED_STUDY, changed(tmp_path, file, change))]
    assert any(line.startswith(expected) for line in differences), differences
    assert len(differences) == 1, differences


@pytest.mark.parametrize(
    "file, change",
    [
        ("screening/DM.json", lambda f: f["properties"]["SEX"].update({"x-ecrf-source-oid": "I.SEX"})),
        ("screening/DM.json", lambda f: f["required"].reverse()),
        ("logs/AE.json", lambda f: f["x-ecrf-checks"].reverse()),
        ("study.json", lambda s: s["lab_ranges"].reverse()),
        ("study.json", lambda s: s["events"][0].update(repeating=False)),
        ("screening/LB_HEM.json", lambda f: f["properties"]["HGB"].update(maximum=250.0)),
    ],
)
def test_provenance_and_orders_without_meaning_are_not_differences(tmp_path, file, change):
    assert diff_folders(BUNDLED_STUDY, changed(tmp_path, file, change)) == []


def test_true_is_not_one(tmp_path):
    copy = changed(tmp_path, "followup/SURV.json", lambda f: f["allOf"][0]["if"]["properties"]["ALIVE"].update(const=1))
    assert diff_folders(BUNDLED_STUDY, copy) != []


def test_the_command_exits_0_when_equal_1_listing_differences_and_2_for_a_broken_folder(app, tmp_path):
    runner = app.test_cli_runner()
    same = runner.invoke(args=["study", "diff", str(BUNDLED_STUDY), str(BUNDLED_STUDY)])
    assert same.exit_code == 0 and "no difference" in same.output
    copy = changed(tmp_path, "screening/DM.json", lambda f: f["properties"]["SEX"].update(title="Gender"))
    different = runner.invoke(args=["study", "diff", str(BUNDLED_STUDY), str(copy)])
    assert different.exit_code == 1 and 'title: "Sex" → "Gender"' in different.output
    (copy / "screening" / "DM.json").write_text("{")
    broken = runner.invoke(args=["study", "diff", str(BUNDLED_STUDY), str(copy)])
    assert broken.exit_code == 2 and "DM.json" in broken.output


@pytest.mark.parametrize(
    "file, change, expected",
    [
        ("screening/VS.json", lambda f: f["properties"]["HEIGHT"].update(type="integer"),
         'form VS item /HEIGHT: type: "number" → "integer"'),
        ("study.json", lambda s: s["events"][3]["forms"].pop(), "schedule event D0: forms:"),
        ("study.json", lambda s: s["parameters"].update(ld_dose_tolerance=0.05),
         "study: parameters.ld_dose_tolerance: 0.1 → 0.05"),
    ],
)
def test_types_forms_per_event_and_parameters_are_listed(tmp_path, file, change, expected):
    differences = [str(d) for d in diff_folders(BUNDLED_STUDY, changed(tmp_path, file, change))]
    assert [line for line in differences if line.startswith(expected)], differences


def test_loaded_versions_are_compared_by_their_version(cd7_app, tmp_path):
    from tests.amendment import make_v2

    runner = cd7_app.test_cli_runner()
    assert runner.invoke(args=["study", "load", str(make_v2(tmp_path / "v2"))]).exit_code == 0
    result = runner.invoke(args=["study", "diff", "1.0.0", "2.0.0"])
    assert result.exit_code == 1, result.output
    assert "form APH item /APHAE: item:" in result.output
    assert "form APH item /APHNEW: item: (absent) →" in result.output
    assert 'form APH rules: /APHNEW: (absent) → {"required": true}' in result.output
    assert "study: parameters.ld_dose_tolerance: 0.1 → 0.05" in result.output
    assert runner.invoke(args=["study", "diff", "1.0.0", "9.9.9"]).exit_code == 2
