"""ODM 1.3 metadata import: what each source system's file becomes, and the report that says so."""

import json
from pathlib import Path

import pytest

from ecrf.errors import DefinitionError
from ecrf.odm_import import ImportError_, odm_to_study, write_draft
from ecrf.study_folder import read_study
from tests.conftest import Api, make_app

FIXTURES = Path(__file__).parent.parent.parent / "fixtures" / "odm"
# Files written by other systems, published under permissive licences (tests/fixtures/odm/SOURCES.md).
PUBLIC = ("public/openedc-example-metadata.xml", "public/odmlib-cdash-odm-test.xml")


def run_import(app, tmp_path, name: str, *extra: str):
    """``(exit code, output, draft folder, report dict)`` of ``ecrf study import-odm`` on a fixture."""
    folder, report = tmp_path / "draft", tmp_path / "report.json"
    source = name if Path(name).is_absolute() else str(FIXTURES / name)
    result = app.test_cli_runner().invoke(args=["study", "import-odm", source, "-o", str(folder),
                                                "--report", str(report), *extra])
    return result.exit_code, result.output, folder, json.loads(report.read_text()) if report.exists() else None


def form(folder: Path, oid: str) -> dict:
    return json.loads((folder / "imported" / f"{oid}.json").read_text())


def decisions(report: dict, kind: str) -> list[tuple[str, str, str]]:
    return [(c["oid"], c["outcome"], c.get("reason", "")) for c in report["constructs"] if c["kind"] == kind]


def odm(metadata: str, root: str = 'xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2"') -> str:
    """A small ODM document around one MetaDataVersion's content."""
    return (f'<?xml version="1.0"?>\n<ODM {root}>\n<Study OID="S.T"><GlobalVariables><StudyName>T</StudyName>'
            f'</GlobalVariables>\n<MetaDataVersion OID="MDV.1" Name="v1">\n{metadata}\n</MetaDataVersion>'
            '</Study>\n</ODM>\n')


def one_item(item_def: str, extra: str = "") -> str:
    """An ODM study with one event, one form and one item ``I.X`` defined by ``item_def``."""
    return odm('<StudyEventDef OID="SE.1" Name="V1" Repeating="No" Type="Scheduled"><FormRef FormOID="F.1" '
               'Mandatory="Yes"/></StudyEventDef><FormDef OID="F.1" Name="F" Repeating="No"><ItemGroupRef '
               'ItemGroupOID="IG.1" Mandatory="Yes"/></FormDef><ItemGroupDef OID="IG.1" Name="G" Repeating="No">'
               f'<ItemRef ItemOID="I.X" Mandatory="No"/></ItemGroupDef>{item_def}{extra}')


def codelist(oid: str, data_type: str, *codes: str) -> str:
    entries = "".join(f'<CodeListItem CodedValue="{c}"><Decode><TranslatedText>L{c}</TranslatedText></Decode>'
                      f'</CodeListItem>' for c in codes)
    return f'<CodeList OID="{oid}" Name="{oid}" DataType="{data_type}">{entries}</CodeList>'


# ---------------------------------------------------------------- OpenClinica 3: range checks, code lists, multi-select


def test_openclinica_hard_range_checks_become_limits_and_soft_ones_query_checks_with_their_messages(app, tmp_path):
    code, output, folder, report = run_import(app, tmp_path, "openclinica3.xml")
    assert code == 0, output
    lab = form(folder, "F_LAB_V10")
    rbc = lab["properties"]["RBC"]
    assert (rbc["minimum"], rbc["maximum"], rbc["x-ecrf-source-oid"]) == (2, 8, "I_LAB_RBC")
    assert [(c["rule"], c["severity"], c["message"]) for c in lab["x-ecrf-checks"]] == [
        ("!has(data.RBC) || data.RBC >= 4.0", "query",
         {"en": "RBC below normal: please confirm", "zh": "红细胞低于正常值：请确认"}),
        ("!has(data.RBC) || data.RBC <= 6.5", "query", {"en": "RBC above normal: please confirm"}),
    ]
    assert rbc["x-ecrf-labels"] == {"zh": "红细胞计数"} and rbc["x-ecrf-unit"] == "10^12/L"
    assert report["counts"]["RangeCheck"] == {"translated": 6}
    assert "4 dropped" in output.splitlines()[0]


def test_openclinica_code_lists_are_typed_to_their_item_and_a_misfit_is_reported(app, tmp_path):
    _, _, folder, report = run_import(app, tmp_path, "openclinica3.xml")
    lab = form(folder, "F_LAB_V10")["properties"]
    assert [c["const"] for c in lab["DILUTION"]["oneOf"]] == [10, 0.001, 40]
    assert lab["PLT"]["maximum"] == 40  # CheckValue 4E1
    assert lab["GRADE"]["type"] == "string" and [c["const"] for c in lab["GRADE"]["oneOf"]] == ["1", "SEV"]
    assert ("CL_GRADE_TEXT", "translated",
            "item I_LAB_GRADE has DataType integer but its code list has the code 'SEV': "
            "kept as text") in decisions(report, "CodeListRef")
    assert lab["SYMPTOMS"]["type"] == "array" and lab["SYMPTOMS"]["uniqueItems"] is True
    assert [c["const"] for c in lab["SYMPTOMS"]["items"]["oneOf"]] == [1, 2, 3]


def test_openclinica_repeating_group_keeps_its_repeat_limit_and_sections_and_clinical_data_are_reported(app, tmp_path):
    _, _, folder, report = run_import(app, tmp_path, "openclinica3.xml")
    meds = form(folder, "F_CM_V10")["properties"]["MEDS"]
    assert (meds["type"], meds["maxItems"], meds["x-ecrf-source-oid"]) == ("array", 40, "IG_CM_MEDS")
    assert meds["items"]["required"] == ["CMTRT"]
    assert decisions(report, "ClinicalData") == [("S_LABDEMO", "dropped", "not imported: use data import (later)")]
    assert decisions(report, "Section")[0][1] == "dropped"
    assert decisions(report, "CodeList") == [("CL_DILUTION", "carried", ""), ("CL_GRADE_TEXT", "carried", ""),
                                             ("CL_UNUSED", "dropped", "defined but used by no item")]
    study = json.loads((folder / "study.json").read_text())
    assert [e["x-ecrf-source-oid"] for e in study["events"]] == ["SE_SCREEN", "SE_AE"]
    assert study["x-ecrf-source-oid"] == "S_LABDEMO"


@pytest.mark.parametrize("value, status, queried", [
    (3.9, 201, ["RC_RBC_3"]),    # below the soft range: saved, with a query
    (1.9, 422, None),            # below the hard range: refused
    (5.0, 201, []),
    (7.0, 201, ["RC_RBC_4"]),    # above the soft range: saved, with a query
    (8.1, 422, None),
    (8.0, 201, ["RC_RBC_4"]),    # hard limits are inclusive (GE/LE)
    (2.0, 201, ["RC_RBC_3"]),
])
def test_imported_soft_range_raises_a_query_and_hard_range_refuses_on_the_wire(tmp_path, wire_uri, value, status,
                                                                                queried):
    folder, _ = write_draft(FIXTURES / "openclinica3.xml", tmp_path / "draft")
    app = make_app(tmp_path, wire_uri, folder)
    staff = Api(app.test_client(), app.tokens["staff01"], "S_LABDEMO")
    subject = staff.register()
    response = staff.save(subject, "SE_SCREEN", "F_LAB_V10", {"RBC": value})
    assert response.status_code == status, response.get_json()
    if queried is not None:
        assert sorted(q["check"] for q in response.get_json()["queries"]) == queried
    else:
        assert "/RBC" in json.dumps(response.get_json())


# ---------------------------------------------------------------- REDCap: booleans, no events


def test_redcap_file_without_events_gets_one_default_event_and_passes_study_check(app, tmp_path):
    code, output, folder, report = run_import(app, tmp_path, "redcap.xml")
    assert code == 0, output
    study = read_study(folder).study
    assert study["events"] == [{"oid": "EVENT", "name": "Default event", "stage": "imported", "day": None,
                                "window": None, "repeating": False, "forms": ["DEMOGRAPHICS", "SYMPTOMS"]}]
    assert decisions(report, "StudyEventDef")[0][:2] == ("EVENT", "translated")
    assert ("sex.choices", "dropped",
            "item sex refers to a code list the file does not define: kept without choices") in decisions(report,
                                                                                                        "CodeListRef")


def test_redcap_branching_logic_is_translated_and_an_untranslatable_calculation_kept_visible_and_reported(tmp_path):
    _, forms, report = odm_to_study(FIXTURES / "redcap.xml")
    demographics = forms["DEMOGRAPHICS"]
    shown = next(c for c in demographics["x-ecrf-checks"] if c["id"] == "SHOWN_PREGNANT")
    assert (shown["item"], shown["severity"], shown["rule"]) == (
        "/PREGNANT", "query", '(data.SEX == "2" && data.AGE >= 12.0) || !has(data.PREGNANT)')
    # the calculation names items the file does not hold on this form: kept visible, read-only, reported
    assert [(d["kind"], d["source-oid"], d["item"], d["expression"]) for d in demographics["x-ecrf-disabled"]] == [
        ("REDCap calculation", "bmi", "/BMI", "round([weight]/([height]/100)^2,1)")]
    assert "[weight] is not an item of this form" in demographics["x-ecrf-disabled"][0]["reason"]
    assert "BMI" not in demographics["properties"] and demographics["x-ecrf-derived"]["BMI"]["expr"] == "null"
    assert demographics["required"] == ["CONSENT"]  # the item under branching logic is not required always
    assert demographics["properties"]["PREGNANT"]["description"] == "Urine test on the day"  # field note as help
    assert [e.outcome for e in report.find("REDCap branching logic")] == ["translated"]
    assert [e.outcome for e in report.find("REDCap calculation")] == ["disabled"]


def test_redcap_yes_no_items_are_booleans_and_checkbox_boxes_one_multi_select_on_the_wire(tmp_path, wire_uri):
    folder, _ = write_draft(FIXTURES / "redcap.xml", tmp_path / "draft")
    demographics, symptoms = form(folder, "DEMOGRAPHICS")["properties"], form(folder, "SYMPTOMS")["properties"]
    assert demographics["CONSENT"] == {"type": "boolean", "title": "Consent signed?", "x-ecrf-source-oid": "consent",
                                       "x-ecrf-source-group": "demographics.record_id"}
    assert symptoms["FEVER"]["type"] == "boolean" and "SX___1" not in symptoms and "SX___2" not in symptoms
    assert (symptoms["SX"]["type"], symptoms["SX"]["items"]["oneOf"], symptoms["SX"]["x-ecrf-source-oid"]) == (
        "array", [{"const": 1, "title": "cough"}, {"const": 2, "title": "rash"}], "sx")
    app = make_app(tmp_path, wire_uri, folder)
    staff = Api(app.test_client(), app.tokens["staff01"], "DEMO")
    subject = staff.register()
    saved = staff.save(subject, "EVENT", "SYMPTOMS", {"FEVER": True, "SX": [2]})
    assert saved.status_code == 201, saved.get_json()
    soft = staff.save(subject, "EVENT", "DEMOGRAPHICS", {"CONSENT": True, "AGE": 17})
    assert soft.status_code == 201 and [q["check"] for q in soft.get_json()["queries"]] == ["RC_AGE_1"]


# -------------------------------------------------------- OpenEDC: OIDs, languages, conditions, methods, versions


def test_openedc_oids_are_kept_in_x_ecrf_source_oid_instead_of_silently_renamed(app, tmp_path):
    _, _, folder, report = run_import(app, tmp_path, "openedc.xml")
    body = form(folder, "F_1")
    assert {k: v["x-ecrf-source-oid"] for k, v in body["properties"].items()} == {
        "I_6": "I.6", "I_1": "I.1", "I_2": "I.2", "I_4": "I.4", "I_5": "I.5"}
    who = form(folder, "F_2")["properties"]["F_2"]["items"]["properties"]
    assert {k: v["x-ecrf-source-oid"] for k, v in who.items()} == {"WHO_1": "WHO.1", "WHO_2": "WHO.2"}
    assert ("I.6", "carried", "named I_6 (x-ecrf-source-oid keeps I.6)") in decisions(report, "ItemDef")
    assert body["x-ecrf-source-oid"] == "F.1"


def test_openedc_translations_in_every_language_are_kept(tmp_path):
    study, forms, _ = odm_to_study(FIXTURES / "openedc.xml")
    assert forms["F_1"]["x-ecrf-labels"] == {"de": "Körpermaße"}
    assert forms["F_1"]["properties"]["I_6"]["x-ecrf-labels"] == {"de": "Alter"}
    choices = forms["F_2"]["properties"]["F_2"]["items"]["properties"]["WHO_1"]["oneOf"]
    assert choices == [{"const": 0, "title": "Never", "x-ecrf-labels": {"de": "Nie"}},
                       {"const": 5, "title": "Always", "x-ecrf-labels": {"de": "Immer"}}]
    assert study["events"][0]["labels"] == {"de": "Basisvisite"}


def test_openedc_conditions_and_methods_become_cel_and_the_untranslatable_are_kept_disabled_and_reported(app,
                                                                                                        tmp_path):
    code, output, folder, report = run_import(app, tmp_path, "openedc.xml")
    assert code == 0, output
    body = form(folder, "F_1")
    assert body["x-ecrf-derived"]["BMI"]["expr"] == "data.I_2 / (data.I_1 * data.I_1)"
    assert "I_3" not in body["properties"]  # a calculated item is read-only, not an editable field
    assert body["x-ecrf-checks"][0]["rule"] == "!(data.I_6 < 18.0 || data.I_6 > 55.0) || !has(data.I_4)"
    assert body["x-ecrf-checks"][0]["message"] == {"en": "Should be empty: Not asked of minors or over 55"}
    assert "I_4" not in body["required"]  # mandatory only while collected
    assert [(d["kind"], d["source-oid"], d["expression"]) for d in body["x-ecrf-disabled"]] == [
        ("ConditionDef", "C.2", "count(//ItemData[@ItemOID='I.4']) = 0"), ("MethodDef", "M.2", "round(I.2)")]
    assert body["x-ecrf-derived"]["I_7"]["expr"] == "null"  # visible, read-only, computes nothing
    assert [o for _, o, _ in decisions(report, "ConditionDef")] == ["translated", "disabled"]
    assert [o for _, o, _ in decisions(report, "MethodDef")] == ["translated", "disabled"]
    assert "disabled: MethodDef M.2 (line 80): /I_7: kept in x-ecrf-disabled, not run: function round() has no " \
           "translation" in output


def test_openedc_imported_derivation_and_condition_run_on_save_on_the_wire(tmp_path, wire_uri):
    folder, _ = write_draft(FIXTURES / "openedc.xml", tmp_path / "draft")
    app = make_app(tmp_path, wire_uri, folder)
    staff = Api(app.test_client(), app.tokens["staff01"], "S_1")
    subject = staff.register()
    saved = staff.save(subject, "SE_1", "F_1", {"I_6": 16, "I_1": 2.0, "I_2": 80.0, "I_4": "yes"})
    assert saved.status_code == 201, saved.get_json()
    assert [q["check"] for q in saved.get_json()["queries"]] == ["CX_I_4"]
    record = staff.get(staff.record_path(subject, "SE_1", "F_1")).get_json()
    assert record["derived"]["BMI"] == 20.0


def test_every_metadata_version_is_selectable_and_the_report_lists_the_others(app, tmp_path):
    code, output, folder, report = run_import(app, tmp_path, "openedc.xml", "--version", "MDV.2")
    assert code == 0, output
    assert list(form(folder, "F_1")["properties"]) == ["I_1"] and form(folder, "F_1")["title"] == "Body v2"
    assert (report["metadata_version"], report["other_metadata_versions"]) == ("MDV.2", ["MDV.1"])
    _, _, report_first = odm_to_study(FIXTURES / "openedc.xml")
    assert report_first.facts["other_metadata_versions"] == ["MDV.2"]
    with pytest.raises(ImportError_, match=r"openedc.xml:6: no MetaDataVersion 'MDV.9'; the file has MDV.1, MDV.2"):
        odm_to_study(FIXTURES / "openedc.xml", "MDV.9")


# ---------------------------------------------------------------- CDISC examples: repeating forms, XPath $ references


def test_cdisc_repeating_form_becomes_an_array_of_rows_and_its_row_checks_follow(tmp_path):
    _, forms, report = odm_to_study(FIXTURES / "cdisc-example.xml")
    ae = forms["AE"]
    assert list(ae["properties"]) == ["AE"] and ae["properties"]["AE"]["items"]["required"] == ["AETERM"]
    assert ae["x-ecrf-checks"] == [{"id": "RC_AESEV_1", "item": "/AE/*/AESEV", "severity": "query",
                                    "rule": '!has(row.AESEV) || row.AESEV in ["MILD", "MODERATE"]',
                                    "message": {"en": "Severe events need a narrative",
                                                "fr": "Un événement sévère demande un récit"}}]
    vs = forms["VS"]
    assert (vs["properties"]["SYSBP"]["exclusiveMinimum"], vs["properties"]["SYSBP"]["exclusiveMaximum"]) == (40, 300)
    assert vs["x-ecrf-derived"]["PP"]["expr"] == "data.SYSBP - data.DIABP"
    assert report.counts()["FormDef"] == {"carried": 1, "translated": 1}


def test_every_fixture_imports_to_a_study_that_passes_study_check(app, tmp_path):
    for name in ("openclinica3.xml", "redcap.xml", "openedc.xml", "cdisc-example.xml", *PUBLIC):
        code, output, folder, report = run_import(app, tmp_path / name, name)
        assert code == 0, (name, output)
        assert read_study(folder).forms
        assert report["source"].endswith(name) and report["constructs"]


# ---------------------------------------------------------------- code-list typing, table-driven


@pytest.mark.parametrize("data_type, list_type, codes, kind, consts", [
    ("integer", "integer", ["1", "2", "10"], "integer", [1, 2, 10]),
    ("integer", "text", ["4E1", "007"], "integer", [40, 7]),
    ("float", "float", ["10", ".001", "2.5"], "number", [10, 0.001, 2.5]),
    ("text", "text", ["A", "10"], "string", ["A", "10"]),
    ("integer", "text", ["1", "X"], "string", ["1", "X"]),
    ("integer", "float", ["1.5"], "string", ["1.5"]),
])
def test_code_lists_are_typed_to_their_item(tmp_path, data_type, list_type, codes, kind, consts):
    source = tmp_path / "one.xml"
    source.write_text(one_item(f'<ItemDef OID="I.X" Name="X" DataType="{data_type}"><CodeListRef CodeListOID="CL.1"/>'
                               f'</ItemDef>', codelist("CL.1", list_type, *codes)))
    folder, _ = write_draft(source, tmp_path / "draft")
    item = form(folder, "F_1")["properties"]["X"]
    assert (item["type"], [c["const"] for c in item["oneOf"]]) == (kind, consts)
    read_study(folder)


@pytest.mark.parametrize("codes, kind",
                         [(["1", "0"], "boolean"), (["Y", "N"], "boolean"), (["true", "false"], "boolean"),
                          (["1", "2", "3"], "string")])
def test_boolean_items_with_yes_no_code_lists_are_plain_booleans(tmp_path, codes, kind):
    source = tmp_path / "one.xml"
    source.write_text(one_item('<ItemDef OID="I.X" Name="X" DataType="boolean"><CodeListRef CodeListOID="CL.1"/>'
                               '</ItemDef>', codelist("CL.1", "boolean", *codes)))
    _, forms, _ = odm_to_study(source)
    assert forms["F_1"]["properties"]["X"]["type"] == kind
    assert ("oneOf" in forms["F_1"]["properties"]["X"]) is (kind == "string")


# ---------------------------------------------------------------- refused input: file:line, never a traceback


def refused(app, tmp_path, text: str | bytes) -> str:
    source = tmp_path / "in.xml"
    source.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = app.test_cli_runner().invoke(args=["study", "import-odm", str(source), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
    return result.output


@pytest.mark.parametrize("root", ['xmlns="http://www.cdisc.org/ns/odm/v2.0" ODMVersion="2.0"',
                                  'xmlns="http://www.cdisc.org/ns/odm/v2.0"',
                                  'xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="2.0"'])
def test_odm_2_is_named_as_such(app, tmp_path, root):
    output = refused(app, tmp_path, odm("", root))
    assert "in.xml:2: ODM 2.0 is not supported; export ODM 1.3.2" in output


def test_billion_laughs_is_refused_without_expanding_entities(app, tmp_path):
    laughs = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10}">' for n in range(1, 10))
    output = refused(app, tmp_path, f'<?xml version="1.0"?>\n<!DOCTYPE ODM [{laughs}]>\n'
                                    '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3">&lol9;</ODM>')
    # libxml2 stops the expansion itself, or the parser refuses the declarations: never expanded either way
    assert "in.xml:1: " in output and ("declares entities" in output or "entity amplification" in output)


def test_external_entity_is_refused_and_never_read(app, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    output = refused(app, tmp_path, f'<?xml version="1.0"?>\n<!DOCTYPE ODM [<!ENTITY x SYSTEM "file://{secret}">]>\n'
                                    '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study OID="&x;"/></ODM>')
    assert "in.xml:" in output and "TOP-SECRET" not in output


def test_a_document_naming_an_external_dtd_is_refused_and_the_dtd_never_read(app, tmp_path):
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY x SYSTEM "file://{tmp_path / "secret.txt"}">')
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    output = refused(app, tmp_path, f'<?xml version="1.0"?>\n<!DOCTYPE ODM SYSTEM "file://{dtd}">\n'
                                    '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study OID="&x;"/></ODM>')
    assert "in.xml:1: the document refers to an external DTD" in output and "TOP-SECRET" not in output


@pytest.mark.parametrize("text, message", [
    ("<ODM", "in.xml:1: not well-formed XML"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "in.xml:1: not well-formed XML"),
    ('<?xml version="1.0"?>\n<root/>', "in.xml:2: not an ODM 1.3 document"),
    ('<?xml version="1.0"?>\n<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"/>', "in.xml:2: no Study element"),
    (one_item(""), "refers to ItemDef 'I.X', which the MetaDataVersion does not define"),
    (odm('<FormDef OID="F.1" Name="F"><ItemGroupRef ItemGroupOID="IG.9" Mandatory="No"/></FormDef>'),
     "in.xml:5: refers to ItemGroupDef 'IG.9'"),
    (one_item('<ItemDef OID="I.X" Name="X" DataType="integer"/><ItemDef OID="I.X" Name="Y" DataType="text"/>'),
     "duplicate ItemDef OID 'I.X'"),
])
def test_unreadable_or_inconsistent_input_exits_1_with_file_line_message(app, tmp_path, text, message):
    assert message in refused(app, tmp_path, text)


def test_a_study_without_forms_is_imported_but_refused_by_study_check(app, tmp_path):
    source = tmp_path / "empty.xml"
    source.write_text(odm('<StudyEventDef OID="SE.1" Name="V1" Repeating="No" Type="Scheduled"/>'))
    result = app.test_cli_runner().invoke(args=["study", "import-odm", str(source), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "study.json: /: the study has no forms" in result.output


def test_an_existing_folder_is_never_overwritten(tmp_path):
    (tmp_path / "draft").mkdir()
    (tmp_path / "draft" / "keep.txt").write_text("mine")
    with pytest.raises(ImportError_, match="not empty"):
        write_draft(FIXTURES / "redcap.xml", tmp_path / "draft")
    assert (tmp_path / "draft" / "keep.txt").read_text() == "mine"


# ---------------------------------------------------------------- study check: the two new rules


def test_study_check_refuses_code_list_values_that_do_not_fit_the_item_type(tmp_path):
    folder, _ = write_draft(FIXTURES / "redcap.xml", tmp_path / "draft")
    path = folder / "imported" / "DEMOGRAPHICS.json"
    schema = json.loads(path.read_text())
    schema["properties"]["AGE"]["oneOf"] = [{"const": "18", "title": "18"}]
    schema["properties"]["CONSENT"]["oneOf"] = [{"const": "1", "title": "Yes"}]
    path.write_text(json.dumps(schema))
    with pytest.raises(DefinitionError) as refused_check:
        read_study(folder)
    assert refused_check.value.faults.lines() == [
        "imported/DEMOGRAPHICS.json: /properties/CONSENT/oneOf/0/const: "
        "code '1' does not fit the item's type 'boolean'",
        "imported/DEMOGRAPHICS.json: /properties/AGE/oneOf/0/const: code '18' does not fit the item's type 'integer'",
    ]


# ------------------------------------------------ each fixture's expected report: every construct counted once


@pytest.mark.parametrize("name, counts", [
    ("openclinica3.xml", {
        "ClinicalData": {"dropped": 1},
        "CodeList": {"carried": 2, "dropped": 1},
        "CodeListRef": {"translated": 1},
        "FormDef": {"carried": 2},
        "ItemDef": {"carried": 7},
        "ItemGroupDef": {"translated": 2},
        "MeasurementUnit": {"carried": 1},
        "MultiSelectList": {"translated": 1},
        "RangeCheck": {"translated": 6},
        "Section": {"dropped": 1},
        "Study": {"carried": 1},
        "StudyDetails": {"dropped": 1},
        "StudyEventDef": {"carried": 2},
    }),
    ("redcap.xml", {
        "CodeList": {"translated": 4},
        "CodeListRef": {"dropped": 1, "translated": 3},
        "FieldNote": {"translated": 1},
        "FormDef": {"carried": 2},
        "ItemDef": {"carried": 7, "translated": 2},
        "ItemGroupDef": {"translated": 2},
        "ItemRef": {"translated": 1},
        "REDCap branching logic": {"translated": 1},
        "REDCap calculation": {"disabled": 1},
        "REDCap checkbox": {"translated": 1},
        "REDCap project setting": {"dropped": 1},
        "RangeCheck": {"translated": 2},
        "Study": {"carried": 1},
        "StudyEventDef": {"translated": 1},
    }),
    ("openedc.xml", {
        "CodeList": {"carried": 1},
        "CodeListRef": {"dropped": 1},
        "ConditionDef": {"disabled": 1, "translated": 1},
        "FormDef": {"carried": 1, "translated": 1},
        "ItemDef": {"carried": 7, "translated": 2},
        "ItemGroupDef": {"translated": 2},
        "ItemRef": {"translated": 1},
        "MetaDataVersion": {"dropped": 1},
        "MethodDef": {"disabled": 1, "translated": 1},
        "Study": {"carried": 1},
        "StudyEventDef": {"carried": 1},
    }),
    ("cdisc-example.xml", {
        "CodeList": {"carried": 1},
        "FormDef": {"carried": 1, "translated": 1},
        "ItemDef": {"carried": 4, "translated": 1},
        "ItemGroupDef": {"translated": 2},
        "MethodDef": {"translated": 1},
        "RangeCheck": {"translated": 3},
        "Study": {"carried": 1},
        "StudyEventDef": {"carried": 1},
    }),
    ("public/openedc-example-metadata.xml", {
        "CodeList": {"carried": 4},
        "ConditionDef": {"translated": 9},
        "FormDef": {"carried": 5},
        "ItemDef": {"carried": 26, "translated": 2},
        "ItemGroupDef": {"translated": 9},
        "MeasurementUnit": {"carried": 5},
        "MethodDef": {"disabled": 2},
        "RangeCheck": {"translated": 8},
        "Study": {"carried": 1},
        "StudyEventDef": {"carried": 3},
    }),
    ("public/odmlib-cdash-odm-test.xml", {
        "Alias": {"dropped": 92},
        "CodeList": {"carried": 10, "dropped": 6},
        "CodeListRef": {"dropped": 3},
        "FormDef": {"carried": 5},
        "ItemDef": {"carried": 48},
        "ItemGroupDef": {"translated": 8},
        "Study": {"carried": 1},
        "StudyEventDef": {"carried": 1},
    }),
])
def test_each_fixture_report_counts_every_construct_by_kind_and_outcome(app, tmp_path, name, counts):
    code, output, _, report = run_import(app, tmp_path, name)
    assert code == 0, output
    assert report["counts"] == counts
    assert sum(n for kind in counts.values() for n in kind.values()) == len(report["constructs"])
    not_carried = [c for c in report["constructs"] if c["outcome"] != "carried"]
    assert all(c["reason"] for c in not_carried)  # nothing dropped, disabled or translated without saying why
    assert all(f"{c['kind']} {c['oid']}" in output for c in not_carried)  # and the terminal summary names each


def test_an_unwritable_report_or_draft_folder_exits_1_with_a_message(app, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    report = app.test_cli_runner().invoke(args=["study", "import-odm", str(FIXTURES / "redcap.xml"), "-o",
                                                str(tmp_path / "draft"), "--report", str(blocker / "report.json")])
    assert report.exit_code == 1 and "cannot write the report" in report.output
    with pytest.raises(ImportError_, match="cannot write the draft"):
        write_draft(FIXTURES / "redcap.xml", blocker / "draft")


def test_study_check_refuses_a_study_folder_without_forms(tmp_path):
    folder, _ = write_draft(FIXTURES / "redcap.xml", tmp_path / "draft")
    for file in (folder / "imported").iterdir():
        file.unlink()
    study = json.loads((folder / "study.json").read_text())
    study["events"][0]["forms"] = []
    (folder / "study.json").write_text(json.dumps(study))
    with pytest.raises(DefinitionError) as refused_check:
        read_study(folder)
    assert refused_check.value.faults.lines() == [
        "study.json: /: the study has no forms: add at least one form file in a stage folder"]


# ---------------------------------------------------------------- public files written by other systems


def test_openedc_public_example_keeps_limits_units_and_german_texts_and_reports_its_power_operator(app, tmp_path):
    code, output, folder, report = run_import(app, tmp_path, PUBLIC[0])
    assert code == 0, output
    basis = form(folder, "F_1")
    age, height = basis["properties"]["AGE"], basis["properties"]["HEIGHT"]
    assert (age["minimum"], age["exclusiveMaximum"], age["x-ecrf-unit"]) == (18, 120, "years")
    assert (height["exclusiveMinimum"], height["exclusiveMaximum"]) == (1, 3)
    assert age["x-ecrf-labels"] == {"de": "Wie alt sind Sie?"}
    bmi = [d for d in decisions(report, "MethodDef") if d[0] == "M.1"]
    assert bmi and bmi[0][1] == "disabled" and "'^' (power) has no CEL operator" in bmi[0][2]
    assert basis["x-ecrf-derived"]["BMI"]["expr"] == "null"  # read-only, never an editable field
    assert {oid for oid, outcome, _ in decisions(report, "ConditionDef") if outcome == "translated"} >= {"C.1", "C.2"}
    # OpenEDC compares its boolean items with the code "1": the item is a boolean here, so the rule says true
    rule = next(c["rule"] for c in basis["x-ecrf-checks"] if c["item"] == "/WEEKSPREGNANT")
    assert rule == "!(!((data.PREGNANT == true))) || !has(data.WEEKSPREGNANT)"


def test_odmlib_cdash_public_file_names_its_dangling_code_list_and_drops_sdtm_aliases_with_a_reason(app, tmp_path):
    code, output, folder, report = run_import(app, tmp_path, PUBLIC[1])
    assert code == 0, output
    dangling = [d for d in decisions(report, "CodeListRef") if d[0] == "CL.SEX"]
    assert dangling == [("CL.SEX", "dropped", "item ODM.IT.DM.SEX refers to a code list the file does not define: "
                                              "kept without choices")]
    assert {reason for _, _, reason in decisions(report, "Alias")} == {"not kept by the form language"}
    assert sorted(read_study(folder).forms) == ["AE", "DM", "RACE", "VS"]  # RACE is in no event: reported
    assert ("ODM.F.RACE", "carried", "in no event of the source: not scheduled") in decisions(report, "FormDef")


# ---------------------------------------------------------------- the eCRF extension read from a foreign hand


@pytest.mark.parametrize("alias, message", [
    ('<Alias Context="ecrf:keywords" Name="{not json"/>', "in.xml:6: Alias ecrf:keywords: not JSON"),
    ('<Alias Context="ecrf:checks" Name="[1, 2"/>', "in.xml:6: Alias ecrf:checks: not JSON"),
])
def test_a_broken_extension_alias_exits_1_naming_its_line(app, tmp_path, alias, message):
    item = f'<ItemDef OID="I.X" Name="X" DataType="integer">\n{alias}</ItemDef>'
    assert message in refused(app, tmp_path, one_item(item))


def test_extension_aliases_of_unexpected_shapes_are_ignored_without_a_traceback(app, tmp_path):
    item = ('<ItemDef OID="I.X" Name="X" DataType="integer"><RangeCheck SoftHard="Soft"><FormalExpression '
            'Context="CEL">!has(data.X) || data.X &gt; 1.0</FormalExpression></RangeCheck>'
            '<Alias Context="ecrf:checks" Name="[&quot;not an object&quot;]"/><Alias Context="ecrf:range" Name="[1]"/>'
            '<Alias Context="ecrf:multiple-choice" Name="Yes"/></ItemDef>')
    source = tmp_path / "in.xml"
    source.write_text(one_item(item))
    study, forms, report = odm_to_study(source)
    (check,) = forms["F_1"]["x-ecrf-checks"]
    assert (check["id"], check["severity"], check["rule"]) == ("RC_X_1", "query", "!has(data.X) || data.X > 1.0")
    assert forms["F_1"]["properties"]["X"]["type"] == "integer"  # no code list: not made a multiple choice
    assert "x-ecrf-range" not in forms["F_1"]["properties"]["X"]


def test_a_public_file_that_is_not_namespace_well_formed_is_refused_with_its_line(app, tmp_path):
    # odmlib's own test file: xs:schemaLocation without the xs prefix declared (and no ODM namespace)
    code, output, folder, report = run_import(app, tmp_path, "public/odmlib-test-odm-001.xml")
    assert code == 1 and report is None and not folder.exists()
    assert "odmlib-test-odm-001.xml:2: not well-formed XML: Namespace prefix xs for schemaLocation on ODM is not " \
           "defined" in output
