"""Item-level SDV: what a change resets and marks, which items targeted SDV asks for, where a record stands."""

import json
import shutil
from types import SimpleNamespace

import pytest
from conftest import BUNDLED_STUDY, MINI_STUDY, record

from audit import diff
from ecrf.definitions import CompiledForm
from ecrf.errors import DefinitionError
from ecrf.sdv import SdvPlan, reset_on_change, sdv_status, value_hash, verification
from ecrf.study_folder import read_study

VS = CompiledForm("VS", json.loads((MINI_STUDY / "screening" / "VS.json").read_text()))
AE = CompiledForm("AE", json.loads((MINI_STUDY / "logs" / "AE.json").read_text()))
MONITOR = SimpleNamespace(username="mon01", display_name="Mon01")
SITE = SimpleNamespace(username="staff01", display_name="Staff01")
OLD = {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70}


def verified(data, form=VS, pointers=None):
    stored = {"data": data, "version": 1}
    pointers = pointers or [f"/{item.oid}" for item in form.items]
    return {**stored, **verification(stored, form, pointers, MONITOR, [])}


# new data -> (items still verified, items marked with (old, new))
RESETS = {
    "value changed": ({**OLD, "WEIGHT": 71}, {"/VSDTC", "/HEIGHT", "/VSTIM", "/MEASURED_AT"}, {"/WEIGHT": (70, 71)}),
    "value unchanged": (dict(OLD), {"/VSDTC", "/HEIGHT", "/WEIGHT", "/VSTIM", "/MEASURED_AT"}, {}),
    "item added": ({**OLD, "VSTIM": "08:30"}, {"/VSDTC", "/HEIGHT", "/WEIGHT", "/MEASURED_AT"},
                   {"/VSTIM": (None, "08:30")}),
    "item removed": ({"VSDTC": "2026-01-05", "HEIGHT": 170}, {"/VSDTC", "/HEIGHT", "/VSTIM", "/MEASURED_AT"},
                     {"/WEIGHT": (70, None)}),
}


@pytest.mark.parametrize("case", RESETS)
def test_a_save_resets_only_the_changed_items_and_marks_them(case):
    new, still, marked = RESETS[case]
    stored = verified(dict(OLD))
    state = reset_on_change(stored, VS, new, diff(OLD, new), SITE)
    assert set(state.get("sdv_items", stored["sdv_items"])) == still
    markers = state.get("sdv_changes", {})
    assert {pointer: (m["old"], m["new"]) for pointer, m in markers.items()} == marked
    for marker in markers.values():
        assert marker["by"] == "staff01" and marker["verified"]["by"] == "mon01" and marker["at"]
    assert ("sdv" in state and state["sdv"] is None) == bool(marked)  # the form's stamp goes with any reset


def test_an_item_never_verified_is_neither_reset_nor_marked():
    stored = verified(dict(OLD), pointers=["/HEIGHT"])
    new = {**OLD, "WEIGHT": 75}
    assert reset_on_change(stored, VS, new, diff(OLD, new), SITE) == {}


def test_a_second_change_keeps_the_verified_value_and_takes_the_newest():
    stored = verified(dict(OLD))
    first = {**OLD, "WEIGHT": 71}
    stored = {**stored, **reset_on_change(stored, VS, first, diff(OLD, first), SITE), "data": first}
    second = {**OLD, "WEIGHT": 72}
    state = reset_on_change(stored, VS, second, diff(first, second), MONITOR)
    assert (state["sdv_changes"]["/WEIGHT"]["old"], state["sdv_changes"]["/WEIGHT"]["new"]) == (70, 72)
    assert state["sdv_changes"]["/WEIGHT"]["by"] == "mon01"


def test_a_changed_row_resets_its_repeating_group_and_reverification_clears_the_marker():
    rows = {"AE": [{"row_id": "r1", "AETERM": "Fever"}, {"row_id": "r2", "AETERM": "Rash"}]}
    stored = verified(rows, AE)
    new = {"AE": [{"row_id": "r1", "AETERM": "Fever"}]}
    state = reset_on_change(stored, AE, new, diff(rows, new), SITE)
    assert state["sdv_items"] == {} and list(state["sdv_changes"]) == ["/AE"]
    changed = {**stored, **state, "data": new, "version": 2}
    assert sdv_status(changed, ["/AE"]) == "changed"
    again = {**changed, **verification(changed, AE, ["/AE"], MONITOR, ["/AE"])}
    assert again["sdv_changes"] == {} and again["sdv"]["by"] == "mon01" and sdv_status(again, ["/AE"]) == "verified"
    assert again["sdv_items"]["/AE"]["value"] == value_hash(new["AE"])


def test_status_of_a_record_against_the_items_required():
    stored = {"data": dict(OLD), "version": 1}
    required = ["/WEIGHT", "/HEIGHT"]
    assert sdv_status(None, required) is None
    assert sdv_status(stored, []) == "not_required"
    assert sdv_status(stored, required) == "awaiting"
    partial = {**stored, **verification(stored, VS, ["/WEIGHT"], MONITOR, required)}
    assert sdv_status(partial, required) == "partial" and "sdv" not in partial
    done = {**partial, **verification(partial, VS, ["/HEIGHT"], MONITOR, required)}
    assert sdv_status(done, required) == "verified" and done["sdv"]["by"] == "mon01"


PLANS = {
    "all": ({"mode": "all"}, {0: 5, 1: 5, 2: 5, 3: 5}),
    "no setting": (None, {0: 5, 3: 5}),
    "critical": ({"mode": "critical", "critical_items": {"VS": ["WEIGHT", "HEIGHT"]}}, {0: 2, 3: 2}),
    "first 3 per site": ({"mode": "first_n", "first_n_per_site": 3}, {0: 5, 2: 5, 3: 0, 4: 0}),
    "first 3, then critical": ({"mode": "first_n", "first_n_per_site": 3, "critical_items": {"VS": ["WEIGHT"]}},
                               {2: 5, 3: 1}),
}


@pytest.mark.parametrize("case", PLANS)
def test_targeted_sdv_selects_items_by_mode_and_rank(case):
    setting, expected = PLANS[case]
    plan = SdvPlan.of({"sdv": setting} if setting else {})
    assert {rank: len(plan.items(VS, rank)) for rank in expected} == expected
    assert plan.items(AE, 0) == ([] if plan.mode == "critical" else ["/AE"])


def test_item_sdv_through_the_api_resets_only_the_changed_item(as_user, staff, saved):
    path = staff.record_path(saved, "SCREEN", "VS")
    monitor = as_user("mon01")
    assert monitor.post(path + "/sdv", {"items": ["/WEIGHT", "/HEIGHT"]}).status_code == 200
    assert record(staff, saved)["sdv"] is None  # VSDTC and the rest still await
    assert monitor.post(path + "/sdv", {}).status_code == 200
    assert record(staff, saved)["lifecycle"] == "verified"
    version = record(staff, saved)["version"]
    staff.save(saved, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 71}, version=version,
               reason="scale error")
    after = record(staff, saved)
    assert after["sdv"] is None and "/WEIGHT" not in after["sdv_items"] and "/HEIGHT" in after["sdv_items"]
    assert after["sdv_changes"]["/WEIGHT"]["old"] == 70 and after["sdv_changes"]["/WEIGHT"]["new"] == 71
    assert monitor.post(path + "/sdv", {"items": ["/WEIGHT"]}).status_code == 200
    again = record(staff, saved)
    assert again["sdv_changes"] == {} and again["lifecycle"] == "verified"


SETTINGS = {
    "unknown mode": ({"mode": "some"}, "/parameters/sdv/mode"),
    "first_n without its N": ({"mode": "first_n"}, "/parameters/sdv"),
    "N of zero": ({"mode": "first_n", "first_n_per_site": 0}, "/parameters/sdv/first_n_per_site"),
    "critical without items": ({"mode": "critical"}, "/parameters/sdv"),
    "unknown key": ({"mode": "all", "n": 1}, "/parameters/sdv"),
    "unknown form": ({"mode": "critical", "critical_items": {"XX": ["A"]}}, "/parameters/sdv/critical_items/XX"),
    "unknown item": ({"mode": "critical", "critical_items": {"VS": ["WEIGHT", "BMI"]}},
                     "/parameters/sdv/critical_items/VS/1"),
}


@pytest.mark.parametrize("case", SETTINGS)
def test_a_bad_sdv_setting_is_refused_naming_its_pointer(tmp_path, case):
    setting, pointer = SETTINGS[case]
    folder = tmp_path / "study"
    shutil.copytree(MINI_STUDY, folder)
    study = json.loads((folder / "study.json").read_text())
    study["parameters"]["sdv"] = setting
    (folder / "study.json").write_text(json.dumps(study))
    with pytest.raises(DefinitionError) as caught:
        read_study(folder)
    assert any(line.startswith(f"study.json: {pointer}:") for line in caught.value.faults.lines()), \
        caught.value.faults.lines()


def test_the_bundled_study_asks_for_critical_items_after_the_first_three_subjects_per_site():
    plan = SdvPlan.of(read_study(BUNDLED_STUDY).study["parameters"])
    assert plan.mode == "first_n" and plan.first_n == 3
    assert {"IE", "INF", "CRS", "ICANS", "AE", "DEATH", "RESP"} <= set(plan.critical)


def test_a_whole_form_stamp_without_item_stamps_stands_for_every_item_until_a_change():
    stored = {"data": dict(OLD), "version": 2, "sdv": {"by": "mon01", "name": "Mon01", "at": None, "version": 1}}
    assert sdv_status(stored, ["/WEIGHT"]) == "verified"
    new = {**OLD, "HEIGHT": 172}
    state = reset_on_change(stored, VS, new, diff(OLD, new), SITE)
    assert state["sdv"] is None and set(state["sdv_items"]) == {"/VSDTC", "/VSTIM", "/WEIGHT", "/MEASURED_AT"}
    assert state["sdv_changes"]["/HEIGHT"]["verified"]["by"] == "mon01"
