"""ODM import of REDCap's own project XML (ODM 1.3.1 with ``redcap:`` attributes): logic, calculations, checkboxes.

The files are REDCapR's public test projects (tests/fixtures/odm/SOURCES.md); their expected reports are here.
"""

from pathlib import Path

import pytest

from ecrf.odm_import import odm_to_study, write_draft
from ecrf.redcap.builder import dictionary_to_study
from ecrf.study_folder import read_study

FIXTURES = Path(__file__).parent.parent.parent / "fixtures"
PUBLIC = FIXTURES / "odm" / "public"
REDCAP_XML = FIXTURES / "odm" / "redcap.xml"

SETTING = {"REDCap project setting": {"dropped": 25}}
EXPECTED = {
    "redcapr-longitudinal-project.xml": {
        "ClinicalData": {"dropped": 1}, "CodeList": {"carried": 44, "translated": 26},
        "CodeListRef": {"translated": 6}, "FieldNote": {"translated": 4}, "FormDef": {"carried": 9},
        "ItemDef": {"carried": 102, "translated": 22}, "ItemGroupDef": {"translated": 30},
        "REDCap CustomAlignment": {"dropped": 2}, "REDCap MatrixGroupName": {"dropped": 4},
        "REDCap SliderLabels": {"dropped": 1}, "REDCap arm": {"dropped": 2},
        "REDCap branching logic": {"translated": 2}, "REDCap calculation": {"translated": 2},
        "REDCap checkbox": {"translated": 5}, "REDCap day offset": {"translated": 12},
        "REDCap field type": {"translated": 2}, "REDCap identifier": {"carried": 5}, **SETTING,
        "REDCap section header": {"carried": 16}, "RangeCheck": {"translated": 5}, "Study": {"carried": 1},
        "StudyEventDef": {"carried": 12}},
    "redcapr-simple-project.xml": {
        "ClinicalData": {"dropped": 1}, "CodeList": {"carried": 5, "translated": 7}, "CodeListRef": {"translated": 2},
        "FieldNote": {"translated": 1}, "FormDef": {"carried": 3}, "ItemDef": {"carried": 20, "translated": 6},
        "ItemGroupDef": {"translated": 10}, "REDCap calculation": {"translated": 1},
        "REDCap checkbox": {"translated": 1}, "REDCap field type": {"translated": 1},
        "REDCap identifier": {"carried": 6}, "REDCap project setting": {"dropped": 27},
        "REDCap section header": {"carried": 5}, "RangeCheck": {"translated": 4}, "Study": {"carried": 1},
        "StudyEventDef": {"translated": 1}},
    "redcapr-repeating-instruments-project.xml": {
        "ClinicalData": {"dropped": 1}, "CodeList": {"carried": 5}, "FieldNote": {"translated": 2},
        "FormDef": {"carried": 2, "translated": 1}, "ItemDef": {"carried": 13}, "ItemGroupDef": {"translated": 4},
        "REDCap CustomAlignment": {"dropped": 1}, "REDCap identifier": {"carried": 2},
        "REDCap project setting": {"dropped": 26}, "REDCap repeating instrument": {"translated": 1},
        "REDCap section header": {"carried": 2}, "RangeCheck": {"translated": 2}, "Study": {"carried": 1},
        "StudyEventDef": {"translated": 1}},
    "redcapr-validation-types-1-project.xml": {
        "ClinicalData": {"dropped": 1}, "CodeList": {"carried": 3, "translated": 5}, "CodeListRef": {"translated": 3},
        "FormDef": {"carried": 1}, "ItemDef": {"carried": 50, "translated": 3}, "ItemGroupDef": {"translated": 6},
        "REDCap CustomAlignment": {"dropped": 2}, "REDCap SliderLabels": {"dropped": 1},
        "REDCap calculation": {"translated": 1}, "REDCap checkbox": {"translated": 1},
        "REDCap field type": {"translated": 5}, **SETTING, "REDCap section header": {"carried": 3},
        "Study": {"carried": 1}, "StudyEventDef": {"translated": 1}},
}


@pytest.mark.parametrize("name, counts", EXPECTED.items())
def test_each_public_redcap_project_xml_reports_every_construct_and_its_draft_passes_study_check(tmp_path, name,
                                                                                                 counts):
    folder, report = write_draft(PUBLIC / name, tmp_path / "draft")
    assert report.counts() == counts
    assert all(entry.reason for entry in report.find(outcome="dropped"))  # never dropped without a reason
    assert read_study(folder).forms


def test_redcap_branching_logic_in_an_odm_file_becomes_a_query_check_on_the_item_it_hides():
    _, forms, report = odm_to_study(PUBLIC / "redcapr-longitudinal-project.xml")
    checks = {c["id"]: c for c in forms["DEMOGRAPHICS"]["x-ecrf-checks"] if c["id"].startswith("SHOWN_")}
    assert checks["SHOWN_NUM_CHILDREN"]["item"] == "/NUM_CHILDREN"
    assert checks["SHOWN_NUM_CHILDREN"]["rule"] == \
        '(data.SEX == "0" && data.GIVEN_BIRTH == true) || !has(data.NUM_CHILDREN)'
    assert {e.oid: e.outcome for e in report.find("REDCap branching logic")} == {
        "given_birth": "translated", "num_children": "translated"}
    assert "NUM_CHILDREN" not in forms["DEMOGRAPHICS"].get("required", [])


def test_a_redcap_calculation_in_an_odm_file_is_the_derivation_the_dictionary_import_makes_of_it():
    _, forms, _ = odm_to_study(PUBLIC / "redcapr-longitudinal-project.xml")
    bmi = forms["DEMOGRAPHICS"]["x-ecrf-derived"]["BMI"]
    _, from_dictionary, _ = dictionary_to_study(FIXTURES / "redcap" / "redcapr-longitudinal.csv",
                                                FIXTURES / "redcap" / "redcapr-longitudinal-events.csv",
                                                FIXTURES / "redcap" / "redcapr-longitudinal-mapping.csv")
    assert "BMI" not in forms["DEMOGRAPHICS"]["properties"]  # read-only, never an editable field
    assert bmi["expr"] == from_dictionary["DEMOGRAPHICS"]["x-ecrf-derived"]["BMI"]["expr"]
    assert "data.WEIGHT" in bmi["expr"] and "data.HEIGHT" in bmi["expr"]


def test_checkbox_boxes_of_a_redcap_odm_file_are_one_multi_select_array_of_their_choices():
    _, forms, report = odm_to_study(PUBLIC / "redcapr-longitudinal-project.xml")
    properties = forms["DEMOGRAPHICS"]["properties"]
    gym = properties["GYM"]
    assert (gym["type"], gym["uniqueItems"], gym["x-ecrf-source-oid"]) == ("array", True, "gym")
    assert gym["items"] == {"type": "integer", "oneOf": [
        {"const": 0, "title": "Monday"}, {"const": 1, "title": "Tuesday"}, {"const": 2, "title": "Wednesday"},
        {"const": 3, "title": "Thursday"}, {"const": 4, "title": "Friday"}]}
    assert not [name for name in properties if "___" in name]
    boxes = [e for e in report.find("ItemDef") if e.oid.startswith("gym___")]
    assert [(e.oid, e.outcome) for e in boxes] == [("gym___0", "carried")] + [
        (f"gym___{n}", "translated") for n in range(1, 5)]
    assert boxes[0].reason == "named GYM (x-ecrf-source-oid keeps gym)"


def test_redcap_day_offsets_become_days_and_windows_and_repeating_instruments_repeating_forms():
    study, _, _ = odm_to_study(PUBLIC / "redcapr-longitudinal-project.xml")
    first_visit = next(e for e in study["events"] if e["x-ecrf-source-oid"] == "Event.first_visit_arm_2")
    assert (first_visit["day"], first_visit["window"]) == (10, {"before": 2, "after": 2})
    _, forms, _ = odm_to_study(PUBLIC / "redcapr-repeating-instruments-project.xml")
    rows = forms["BP"]["properties"]["BP"]
    assert rows["type"] == "array" and set(rows["items"]["properties"]) >= {"DATE_BP", "BP_SYSTOLIC"}


@pytest.mark.parametrize("logic, reason", [
    ("[a] = ((", "expression ends too early"),
    ("[nowhere] = '1'", "[nowhere] is not an item of this form"),
    ("[event_1][a] = '1'", "an event named in an ODM file's logic is not translated"),
])
def test_untranslatable_redcap_logic_in_an_odm_file_is_kept_visible_with_its_reason_never_a_traceback(
        tmp_path, logic, reason):
    source = tmp_path / "in.xml"
    escaped = logic.replace("'", "&apos;")
    source.write_text(
        '<?xml version="1.0"?>\n<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" '
        'xmlns:redcap="https://projectredcap.org" ODMVersion="1.3.1">\n<Study OID="P.X"><GlobalVariables>'
        '<StudyName>X</StudyName></GlobalVariables>\n<MetaDataVersion OID="M.1" Name="X">\n'
        '<FormDef OID="Form.f" Name="f" redcap:FormName="f"><ItemGroupRef ItemGroupOID="f.a" Mandatory="No"/>'
        '</FormDef>\n<ItemGroupDef OID="f.a" Name="f"><ItemRef ItemOID="a" Mandatory="No"/>'
        '<ItemRef ItemOID="b" Mandatory="No"/></ItemGroupDef>\n'
        '<ItemDef OID="a" Name="a" DataType="text" redcap:Variable="a" redcap:FieldType="text"/>\n'
        f'<ItemDef OID="b" Name="b" DataType="text" redcap:Variable="b" redcap:FieldType="text" '
        f'redcap:BranchingLogic="{escaped}"/>\n</MetaDataVersion></Study>\n</ODM>\n')
    _, forms, report = odm_to_study(source)
    (disabled,) = forms["F"]["x-ecrf-disabled"]
    assert (disabled["kind"], disabled["item"], disabled["expression"]) == ("REDCap branching logic", "/B", logic)
    assert reason in disabled["reason"]
    (entry,) = report.find("REDCap branching logic")
    assert entry.outcome == "disabled" and entry.line == 8


def test_odd_redcap_attributes_never_raise_a_traceback_and_are_each_reported(app, tmp_path):
    source = tmp_path / "odd.xml"
    source.write_text(
        '<?xml version="1.0"?>\n<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" '
        'xmlns:redcap="https://projectredcap.org" ODMVersion="1.3.1">\n<Study OID="P.X"><GlobalVariables>'
        '<StudyName>X</StudyName><redcap:RepeatingInstrumentsAndEvents><redcap:RepeatingEvent '
        'redcap:UniqueEventName="e_arm_1"/></redcap:RepeatingInstrumentsAndEvents></GlobalVariables>\n'
        '<MetaDataVersion OID="M.1" Name="X">\n<Protocol><StudyEventRef StudyEventOID="E" Mandatory="No"/></Protocol>'
        '<StudyEventDef OID="E" Name="e" Type="Common" Repeating="No" redcap:DayOffset="Infinity" '
        'redcap:OffsetMin="x"><FormRef FormOID="Form.f" Mandatory="No"/></StudyEventDef>\n'
        '<FormDef OID="Form.f" Name="f" redcap:FormName="f"><ItemGroupRef ItemGroupOID="f.a" Mandatory="No"/>'
        '</FormDef>\n<ItemGroupDef OID="f.a" Name="f"><ItemRef ItemOID="c___x" Mandatory="No"/>'
        '<ItemRef ItemOID="c___y" Mandatory="No"/><ItemRef ItemOID="k" Mandatory="No"/></ItemGroupDef>\n'
        '<ItemDef OID="c___x" Name="c___x" DataType="boolean" redcap:Variable="c" redcap:FieldType="checkbox"/>\n'
        '<ItemDef OID="c___y" Name="c___y" DataType="boolean" redcap:Variable="c" redcap:FieldType="checkbox"/>\n'
        '<ItemDef OID="k" Name="k" DataType="float" redcap:Variable="k" redcap:FieldType="calc" '
        f'redcap:Calculation="{"(" * 40}1{")" * 40}" redcap:BranchingLogic="[c(x)] = \'1\'"/>\n'
        '</MetaDataVersion></Study>\n</ODM>\n')
    result = app.test_cli_runner().invoke(args=["study", "import-odm", str(source), "-o", str(tmp_path / "draft"),
                                                "--report", str(tmp_path / "report.json")])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output and result.exit_code == 0, result.output
    _, forms, report = odm_to_study(source)
    assert forms["F"]["properties"]["C"]["items"]["oneOf"] == [{"const": "x", "title": "x"},
                                                               {"const": "y", "title": "y"}]
    assert {e.kind: e.outcome for e in report.find(outcome="disabled")} == {
        "REDCap calculation": "disabled", "REDCap branching logic": "disabled"}
    assert [e.kind for e in report.find(outcome="dropped")] == ["REDCap repeating event"]
