"""The ODM round trip: the bundled study, exported as ODM 1.3.2 and imported back, is the same study.

Export side: each construct of the form language is written as ODM says it (ConditionDef, CEL MethodDef,
hard and soft RangeChecks with messages in every language, code lists incl. multi-select, units,
translations) or as a documented ``ecrf:`` alias (lab ranges, schedule, stages); the file stays valid
against the official XSD and loads with odmlib. Import side: ``ecrf study import-odm`` of that file and
``ecrf study diff`` against the original show nothing.
"""

import json
import shutil

import odmlib.loader as loader_module
import odmlib.odm_loader as odm_loader
import pytest
from lxml import etree

from ecrf.definitions import compile_form
from ecrf.exports.odm import ECRF_NS, NS, odm_schema, write_odm
from ecrf.exports.odm.metadata import metadata
from ecrf.odm_import import write_draft
from ecrf.studies import StudyRuntime, study_runtime
from ecrf.study_diff import diff_folders
from ecrf.study_folder import read_study
from tests.conftest import BUNDLED_STUDY, MINI_STUDY

ODM = {"odm": NS}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def required_items(container: dict) -> int:
    """Items a form requires: always, when a condition holds, and in each repeating group's rows."""
    count = len(container.get("required", [])) + sum(len(e["then"]["required"]) for e in container.get("allOf", []))
    for item in container["properties"].values():
        if item.get("type") == "array" and item["items"].get("type") == "object":
            count += required_items(item["items"])
    return count


@pytest.fixture(scope="module")
def study_element():
    """The ``Study`` element of the bundled study's export (metadata only: no database needed)."""
    definition = read_study(BUNDLED_STUDY)
    runtime = StudyRuntime(definition.hash, definition.study,
                           {oid: compile_form(oid, f["schema"], f["stage"]) for oid, f in definition.forms.items()})
    return metadata(runtime)


def item_def(study, oid: str):
    found = study.find(f".//odm:ItemDef[@OID='{oid}']", ODM)
    assert found is not None, oid
    return found


def texts(element) -> dict:
    return {t.get(XML_LANG): t.text for t in element.iterfind("odm:TranslatedText", ODM)}


@pytest.fixture
def exported(cd7_app, tmp_path):
    """The bundled study's ODM export written by ``write_odm`` (no subjects) and the draft imported from it."""
    path = tmp_path / "cd7.xml"
    with cd7_app.app_context():
        with open(path, "wb") as out:
            write_odm(out, study_runtime("CD7_CART_SAA"), [])
    result = cd7_app.test_cli_runner().invoke(args=["study", "import-odm", str(path), "-o", str(tmp_path / "draft"),
                                                    "--report", str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.output
    return cd7_app, path, tmp_path / "draft", json.loads((tmp_path / "report.json").read_text())


# ---------------------------------------------------------------- the round trip


def test_the_bundled_study_imported_from_its_own_export_shows_no_difference(exported):
    app, _, draft, _ = exported
    result = app.test_cli_runner().invoke(args=["study", "diff", str(BUNDLED_STUDY), str(draft)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("no difference")


def test_the_round_trip_keeps_every_required_item_condition_check_derivation_and_lab_range(exported):
    _, _, draft, _ = exported
    original, imported = read_study(BUNDLED_STUDY), read_study(draft)
    for name, count in (("required items", required_items), ("conditions", lambda s: len(s.get("allOf", [])) + sum(
            len(p["items"].get("allOf", [])) for p in s["properties"].values() if p.get("type") == "array")),
            ("edit checks", lambda s: len(s.get("x-ecrf-checks", []))),
            ("derivations", lambda s: len(s.get("x-ecrf-derived", {})))):
        before = sum(count(f["schema"]) for f in original.forms.values())
        after = sum(count(f["schema"]) for f in imported.forms.values())
        assert before == after > 0, name
    assert imported.study["lab_ranges"] == original.study["lab_ranges"]
    assert {oid: f["stage"] for oid, f in imported.forms.items()} == {
        oid: f["stage"] for oid, f in original.forms.items()
    }


def test_the_import_report_of_the_own_export_drops_nothing_of_the_study(exported):
    _, _, _, report = exported
    dropped = {(c["kind"], c["oid"]) for c in report["constructs"] if c["outcome"] == "dropped"}
    # what is not study metadata (users, sites, the data), and the code lists only ClinicalData's flags use
    assert dropped == {
        ("AdminData", ""),
        ("ClinicalData", "CD7_CART_SAA"),
        *[
            ("CodeList", oid)
            for oid in (
                "CL.QUERY_STATE",
                "CL.QUERY_ORIGIN",
                "CL.ECRF_FLAG_TYPE",
                "CL.ECRF_LIFECYCLE",
                "CL.SIGNATURE_STATE",
                "CL.SIGNATURE_SCOPE",
                "CL.CODING_DICTIONARY",
            )
        ],
    }
    assert not [c for c in report["constructs"] if c["outcome"] == "disabled"]


def test_the_export_with_extension_is_valid_against_the_official_xsd_and_loads_with_odmlib(exported):
    _, path, _, _ = exported
    schema = odm_schema()
    assert schema.validate(etree.parse(str(path))), [e.message for e in list(schema.error_log)[:5]]
    loader = loader_module.ODMLoader(odm_loader.XMLODMLoader(model_package="odm_1_3_2", ns_uri=NS))
    loader.open_odm_document(str(path))
    mdv = loader.load_odm().Study[0].MetaDataVersion[0]
    forms = read_study(BUNDLED_STUDY).forms.values()
    assert len(mdv.MethodDef) == sum(len(f["schema"].get("x-ecrf-derived", {})) for f in forms) == 25
    assert len(mdv.ConditionDef) == 23
    assert {f.FormalExpression[0].Context for f in mdv.MethodDef} == {"CEL"}


# ---------------------------------------------------------------- each construct, as ODM says it


def test_a_conditional_item_names_a_condition_def_whose_cel_says_when_it_is_not_collected(study_element):
    ref = study_element.find(".//odm:ItemGroupDef[@OID='IG.DM']/odm:ItemRef[@ItemOID='IT.DM.CHILDPOT']", ODM)
    assert ref.get("Mandatory") == "Yes"
    condition = study_element.find(f".//odm:ConditionDef[@OID='{ref.get('CollectionExceptionConditionOID')}']", ODM)
    expression = condition.find("odm:FormalExpression", ODM)
    assert (expression.get("Context"), expression.text) == ("CEL", '!(has(data.SEX) && data.SEX == "F")')
    row = study_element.find(".//odm:ItemGroupDef[@OID='IG.AE.AE']/odm:ItemRef[@ItemOID='IT.AE.AESERCAT']", ODM)
    row_condition = study_element.find(f".//odm:ConditionDef[@OID='{row.get('CollectionExceptionConditionOID')}']", ODM)
    assert row_condition.findtext("odm:FormalExpression", namespaces=ODM) == "!(has(row.AESER) && row.AESER == true)"


def test_a_derivation_is_a_method_def_with_its_cel_and_a_read_only_item(study_element):
    ref = study_element.find(".//odm:ItemRef[@ItemOID='IT.LB_HEM.HGB_STD']", ODM)
    method = study_element.find(f".//odm:MethodDef[@OID='{ref.get('MethodOID')}']", ODM)
    assert method.get("Type") == "Computation"
    expression = method.find("odm:FormalExpression", ODM)
    assert expression.get("Context") == "CEL" and "HGB" in expression.text


def test_limits_are_hard_range_checks_with_a_message_in_every_language(study_element):
    checks = item_def(study_element, "IT.LB_HEM.HGB").findall("odm:RangeCheck[@SoftHard='Hard']", ODM)
    assert [(c.get("Comparator"), c.findtext("odm:CheckValue", namespaces=ODM)) for c in checks] == [
        ("GE", "0"),
        ("LE", "250"),
    ]
    assert texts(checks[1].find("odm:ErrorMessage", ODM)) == {"en": "Hemoglobin: ≤ 250", "zh": "血红蛋白: ≤ 250"}


def test_an_edit_check_is_a_soft_cel_range_check_with_its_messages_id_and_severity(study_element):
    item = item_def(study_element, "IT.AE.AEENDTC")
    soft = item.find("odm:RangeCheck[@SoftHard='Soft']", ODM)
    assert soft.get("Comparator") is None
    assert soft.find("odm:FormalExpression", ODM).get("Context") == "CEL"
    assert "days_between(row.AESTDTC, row.AEENDTC)" in soft.findtext("odm:FormalExpression", namespaces=ODM)
    assert texts(soft.find("odm:ErrorMessage", ODM)) == {
        "en": "End date before start date",
        "zh": "结束日期早于开始日期",
    }
    alias = item.find("odm:Alias[@Context='ecrf:checks']", ODM)
    assert json.loads(alias.get("Name"))[0] == {"id": "AE_END_AFTER_START", "severity": "query"}


def test_a_multiple_choice_item_has_its_code_list_and_says_it_takes_several_codes(study_element):
    item = item_def(study_element, "IT.AE.AESERCAT")
    assert item.get("DataType") == "text"
    assert item.find("odm:Alias[@Context='ecrf:multiple-choice']", ODM).get("Name") == "Yes"
    codes = study_element.find(f".//odm:CodeList[@OID='{item.find('odm:CodeListRef', ODM).get('CodeListOID')}']", ODM)
    assert "death" in [c.get("CodedValue") for c in codes.iterfind("odm:CodeListItem", ODM)]
    assert texts(codes.find("odm:CodeListItem[@CodedValue='death']/odm:Decode", ODM)) == {"en": "Death", "zh": "死亡"}


def test_units_translations_and_lab_ranges_are_written(study_element):
    hgb = item_def(study_element, "IT.LB_HEM.HGB")
    unit = study_element.find(
        f".//odm:MeasurementUnit[@OID='{hgb.find('odm:MeasurementUnitRef', ODM).get('MeasurementUnitOID')}']", ODM
    )
    assert texts(unit.find("odm:Symbol", ODM)) == {"en": "g/L"}
    assert texts(hgb.find("odm:Question", ODM)) == {"en": "Hemoglobin", "zh": "血红蛋白"}
    assert hgb.find("odm:Alias[@Context='ecrf:range']", ODM).get("Name") == "HGB"
    ranges = study_element.find(".//odm:Protocol/odm:Alias[@Context='ecrf:lab-ranges']", ODM)
    assert {"analyte": "HGB", "unit": "g/L", "low": 120, "high": 155, "sex": "F"} in json.loads(ranges.get("Name"))
    event = study_element.find(".//odm:StudyEventDef[@OID='SE.M3']", ODM)
    assert json.loads(event.find("odm:Alias[@Context='ecrf:event']", ODM).get("Name"))["day"] == 90
    assert (
        study_element.find(".//odm:FormDef[@OID='F.DM']/odm:Alias[@Context='ecrf:stage']", ODM).get("Name")
        == "screening"
    )


def test_the_document_declares_the_extension_namespace(exported):
    _, path, _, _ = exported
    assert etree.parse(str(path)).getroot().nsmap == {None: NS, "ecrf": ECRF_NS}


# ---------------------------------------------------------------- other studies, and what ODM cannot say


def own_export(folder, path):
    """The study folder's metadata export (an ODM document with its Study only) written to ``path``."""
    definition = read_study(folder)
    runtime = StudyRuntime(
        definition.hash,
        definition.study,
        {oid: compile_form(oid, f["schema"], f["stage"]) for oid, f in definition.forms.items()},
    )
    root = etree.Element(
        f"{{{NS}}}ODM",
        {"FileType": "Snapshot", "FileOID": "T", "ODMVersion": "1.3.2", "CreationDateTime": "2026-01-01T00:00:00Z"},
        nsmap={None: NS, "ecrf": ECRF_NS},
    )
    root.append(metadata(runtime))
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert odm_schema().validate(etree.parse(str(path))), odm_schema().error_log


def edge_study(tmp_path):
    """The mini study with constructs ODM has no element for, each of which must come back."""
    folder = tmp_path / "edge"
    shutil.copytree(MINI_STUDY, folder)
    dm = json.loads((folder / "screening" / "DM.json").read_text())
    dm["properties"]["NOTES"].update({"x-ecrf-widget": "textarea", "pattern": "^[^<>]*$"})
    dm["properties"]["SMOKER"] = {
        "type": "boolean",
        "title": "Smoker",
        "x-ecrf-labels": {"fr": "Fumeur"},
        "x-ecrf-help": {"fr": "Tabac"},
    }
    dm["properties"]["SCORE"] = {
        "type": "number",
        "title": "Score",
        "exclusiveMinimum": 0,
        "exclusiveMaximum": 10.5,
        "oneOf": [{"const": 0.5, "title": "Half"}, {"const": 2, "title": "Two"}],
    }
    dm["dependentRequired"] = {"SMOKER": ["SCORE"]}
    dm["allOf"].append(
        {
            "if": {"properties": {"RACE": {"contains": {"const": "ASIAN"}}}, "required": ["RACE"]},
            "then": {"required": ["NOTES"]},
        }
    )
    (folder / "screening" / "DM.json").write_text(json.dumps(dm))
    ae = json.loads((folder / "logs" / "AE.json").read_text())
    ae["properties"] = {
        "AEYN": {"type": "boolean", "title": "Any adverse event?"},
        **ae["properties"],
        "AECOMM": {"type": "string", "title": "Comment"},
    }
    ae["properties"]["AE"].update({"description": "One row per event", "maxItems": 50})
    ae["x-ecrf-checks"].append(
        {
            "id": "AE_ROWS",
            "item": "/AE",
            "rule": "!has(data.AE) || size(data.AE) < 40",
            "message": {"en": "Many rows"},
            "severity": "warning",
        }
    )
    (folder / "logs" / "AE.json").write_text(json.dumps(ae))
    read_study(folder)  # a valid study to begin with
    return folder


@pytest.mark.parametrize("study", ["bundled", "mini", "edge"])
def test_a_study_imported_from_its_own_export_shows_no_difference(tmp_path, study):
    folder = {"bundled": BUNDLED_STUDY, "mini": MINI_STUDY}.get(study) or edge_study(tmp_path)
    own_export(folder, tmp_path / "export.xml")
    draft, report = write_draft(tmp_path / "export.xml", tmp_path / "draft")
    assert [str(d) for d in diff_folders(folder, draft)] == []
    assert not report.find(outcome="disabled")
