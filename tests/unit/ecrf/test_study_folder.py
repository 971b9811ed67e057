"""Study folders: every kind of fault is refused with its file and JSON pointer."""

import json
import shutil

import pytest
from conftest import MINI_STUDY

from ecrf.errors import DefinitionError
from ecrf.study_folder import read_study


@pytest.fixture
def study_copy(tmp_path):
    target = tmp_path / "study"
    shutil.copytree(MINI_STUDY, target)
    return target


def edit(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def faults_of(folder):
    with pytest.raises(DefinitionError) as caught:
        read_study(folder)
    return caught.value.faults.lines()


def test_the_mini_study_is_valid():
    definition = read_study(MINI_STUDY)
    assert definition.oid == "MINI" and set(definition.forms) == {"DM", "VS", "LB", "AE"}


@pytest.mark.parametrize("file, change, expected", [
    ("screening/DM.json", lambda d: d["properties"]["SEX"].update({"colour": "red"}),
     "screening/DM.json: /properties/SEX: Additional properties are not allowed ('colour' was unexpected)"),
    ("screening/DM.json", lambda d: d["properties"]["SEX"].update({"type": "strnig"}),
     "screening/DM.json: /properties/SEX/type: 'strnig' is not one of"),
    ("screening/DM.json", lambda d: d.update({"required": ["BRTHDTC", "NOPE"]}),
     "screening/DM.json: /required/1: required names unknown item 'NOPE'"),
    ("screening/DM.json", lambda d: d["allOf"][0]["then"].update({"required": ["GHOST"]}),
     "screening/DM.json: /allOf/0/then/required/0: unknown item 'GHOST'"),
    ("screening/LB.json", lambda d: d["x-ecrf-checks"][0].update({"rule": "data.ALT <="}),
     "screening/LB.json: /x-ecrf-checks/0/rule: expression does not compile"),
    ("screening/VS.json", lambda d: d["x-ecrf-derived"]["HEAVY"].update({"expr": "((("}),
     "screening/VS.json: /x-ecrf-derived/HEAVY/expr: expression does not compile"),
    ("screening/LB.json", lambda d: d["x-ecrf-checks"][0].update({"item": "/NOPE"}),
     "screening/LB.json: /x-ecrf-checks/0/item: check points at unknown item '/NOPE'"),
    ("study.json", lambda d: d["events"][0]["forms"].append("XX"),
     "study.json: /events/0/forms/3: no form 'XX' in the study folder"),
    ("study.json", lambda d: d["events"].append(dict(d["events"][0])),
     "study.json: /events/3/oid: duplicate event OID 'SCREEN'"),
    ("study.json", lambda d: d.update({"version": 2}),
     "study.json: /version: 2 is not of type 'string'"),
])
def test_each_fault_is_named_by_file_and_pointer(study_copy, file, change, expected):
    edit(study_copy / file, change)
    lines = faults_of(study_copy)
    assert any(line.startswith(expected) for line in lines), lines


def test_duplicate_form_oid_across_stages_is_refused(study_copy):
    shutil.copy(study_copy / "screening" / "DM.json", study_copy / "logs" / "DM.json")
    assert any("duplicate form OID 'DM'" in line for line in faults_of(study_copy))


def test_invalid_json_is_refused_with_the_file(study_copy):
    (study_copy / "screening" / "VS.json").write_text("{ nope")
    assert any(line.startswith("screening/VS.json: /: not valid JSON") for line in faults_of(study_copy))


def test_a_form_folder_that_is_not_a_stage_is_refused(study_copy):
    (study_copy / "extra").mkdir()
    shutil.copy(study_copy / "screening" / "DM.json", study_copy / "extra" / "DM2.json")
    assert any("folder 'extra' is not a stage" in line for line in faults_of(study_copy))
