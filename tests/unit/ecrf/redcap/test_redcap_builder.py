"""A REDCap dictionary → a draft study: items, soft limits as queries, branching logic, calculations, schedule."""

import json
from collections import Counter
from pathlib import Path

import pytest

from ecrf.definitions import compile_form
from ecrf.expressions import bindings, compile_expression, evaluate
from ecrf.odm_import.reader import ImportError_
from ecrf.redcap import dictionary_to_study, write_study
from ecrf.study_folder import read_study

FIXTURES = Path(__file__).parents[3] / "fixtures" / "redcap"
SCHEDULES = {
    "redcapr-longitudinal.csv": {"events": "redcapr-longitudinal-events.csv",
                                 "mapping": "redcapr-longitudinal-mapping.csv"},
    "redcapr-repeating-instruments.csv": {"repeating": "redcapr-repeating-instruments-repeating.csv"},
    "redcapr-vignette-repeating.csv": {"repeating": "redcapr-vignette-repeating-repeating.csv"},
    "edge-logic.csv": {"events": "edge-logic-events.csv", "mapping": "edge-logic-mapping.csv"},
}


def imported(name: str):
    extra = {key: FIXTURES / value for key, value in SCHEDULES.get(name, {}).items()}
    return dictionary_to_study(FIXTURES / name, **extra)


def outcomes(report, kind: str) -> dict[str, str]:
    return {entry.oid: entry.outcome for entry in report.find(kind)}


# ---------------------------------------------------------------- each fixture's expected report

EXPECTED = {
    "redcapr-simple.csv": {"carried": 22, "dropped": 1, "translated": 8},
    "redcapr-clinical-trial-1.csv": {"carried": 17, "translated": 8},
    "redcapr-checkboxes-1.csv": {"carried": 5, "translated": 5},
    "redcapr-potentially-problematic-dictionary.csv": {"carried": 6, "dropped": 3, "translated": 2},
    "redcapr-validation-types-1.csv": {"carried": 45, "dropped": 13, "translated": 23},
    "redcapr-longitudinal.csv": {"carried": 117, "dropped": 3, "translated": 22},
    "redcapr-repeating-instruments.csv": {"carried": 14, "dropped": 2, "translated": 5},
    "redcapr-vignette-repeating.csv": {"carried": 11, "dropped": 3, "translated": 19},
    "phpcap-longitudinal-metadata.csv": {"carried": 52, "disabled": 1, "dropped": 3, "translated": 21},
    "cypress-08-field-validation.csv": {"carried": 19, "dropped": 6, "translated": 16},
    "edge-logic.csv": {"carried": 25, "disabled": 3, "dropped": 5, "translated": 23},
}


@pytest.mark.parametrize("name, counts", EXPECTED.items())
def test_each_fixture_reports_every_construct_and_its_draft_passes_study_check(tmp_path, name, counts):
    study, forms, report = imported(name)
    assert dict(sorted(Counter(entry.outcome for entry in report.entries).items())) == counts
    assert all(entry.reason for entry in report.entries if entry.outcome != "carried")  # never dropped without a word
    definition = read_study(write_study(tmp_path / "draft", study, forms))
    assert definition.forms and definition.study["events"]


def test_every_field_keeps_its_redcap_name_and_every_form_its_instrument_name():
    _, forms, _ = imported("redcapr-longitudinal.csv")
    demographics = forms["DEMOGRAPHICS"]
    assert demographics["x-ecrf-source-oid"] == "demographics"
    assert {oid: item["x-ecrf-source-oid"] for oid, item in demographics["properties"].items()}["DATE_ENROLLED"] \
        == "date_enrolled"
    assert demographics["x-ecrf-derived"]["BMI"]["x-ecrf-source-oid"] == "bmi"


def test_a_public_dictionary_with_unescaped_quotes_is_refused_at_its_line_not_misread():
    # RareLink-CDM 2.0.5 line 818: a label's href="..." quotes are not doubled, so its row would gain a column
    with pytest.raises(ImportError_, match=r"rarelink-cdm-v2_0_5.csv:818: not valid CSV"):
        imported("rarelink-cdm-v2_0_5.csv")


def test_the_api_header_of_a_phpcap_export_reads_like_the_download_one():
    _, forms, report = imported("phpcap-longitudinal-metadata.csv")
    assert forms["DEMOGRAPHICS"]["properties"]["DATE_ENROLLED"]["x-ecrf-section"] == "Consent Information"
    assert report.facts["record_id_field"] == "study_id"
    assert outcomes(report, "calculation") == {"age": "disabled", "bmi": "translated"}  # age reads 'today'


def test_bounds_a_spreadsheet_rewrote_are_dropped_with_why_and_comma_decimals_and_short_times_are_read():
    _, forms, report = imported("cypress-08-field-validation.csv")
    rules = {check["id"]: check["rule"] for check in forms["TEXT_VALIDATION"]["x-ecrf-checks"]}
    assert rules["RANGE_RAN_NUMBER_1DP_MIN"] == "!has(data.RAN_NUMBER_1DP) || data.RAN_NUMBER_1DP >= 1.0"
    assert rules["RANGE_RAN_TIME_MIN"] == '!has(data.RAN_TIME) || data.RAN_TIME >= "06:00"'
    dropped = report.find("validation min", "dropped")
    assert [(e.oid, e.name) for e in dropped] == [("ran_date_dmy", "1/1/19"), ("ran_datetime_mdy", "1/1/19 10:00"),
                                                  ("ran_datetime_seconds_ymd", "1/1/19 9:00")]
    assert "a spreadsheet may have rewritten it" in dropped[0].reason


# ---------------------------------------------------------------- items

def test_field_types_become_items_of_the_right_shape():
    _, forms, report = imported("redcapr-validation-types-1.csv")
    items = forms["FORM_1"]["properties"]
    assert items["F_RADIO"] == {"type": "integer", "title": "Radio Buttons", "oneOf": [
        {"const": 0, "title": "Zero"}, {"const": 1, "title": "One"}, {"const": 2, "title": "Two"}],
        "x-ecrf-widget": "radio", "x-ecrf-source-oid": "f_radio"}
    assert items["F_DROPDOWN"]["x-ecrf-widget"] == "select"
    assert items["F_CHECKBOX"]["type"] == "array" and items["F_CHECKBOX"]["items"]["type"] == "integer"
    assert items["F_YES_NO"]["type"] == items["F_TRUE_FALSE"]["type"] == "boolean"
    assert items["F_NOTES"]["x-ecrf-widget"] == "textarea"
    assert (items["F_SLIDER"]["type"], items["F_SLIDER"]["minimum"], items["F_SLIDER"]["maximum"]) == (
        "integer",
        -1,
        101,
    )
    assert items["V_DATE_DMY"]["format"] == "date" and items["V_DATETIME_SECONDS_YMD"]["format"] == "date-time"
    assert items["V_INTEGER"]["type"] == "integer" and items["V_NUMBER_2DP"]["type"] == "number"
    assert "pattern" in items["V_EMAIL"] and "pattern" in items["V_ZIPCODE"]
    assert not {"F_FILE_UPLOAD", "F_SIGNATURE", "F_SQL", "F_DESCRIPTIVE", "RECORD_ID"} & set(items)
    assert outcomes(report, "field")["f_sql"] == "dropped" and outcomes(report, "field")["f_file_upload"] == "dropped"
    assert forms["FORM_1"]["description"] == "Descriptive Text"
    assert forms["FORM_1"]["x-ecrf-derived"]["F_CALCULATED"]["expr"] == "3.0 + 4.0"


def test_text_codes_stay_text_and_whole_number_codes_become_integers():
    _, forms, _ = imported("redcapr-checkboxes-1.csv")
    items = forms["FORM_2"]["properties"]
    assert items["CHECK_ONE"]["items"]["type"] == "integer"
    assert items["CHECK_TWO"]["items"] == {
        "type": "string",
        "oneOf": [{"const": code, "title": code.upper()} for code in "abcde"],
    }


def test_identifiers_are_flagged_and_sections_and_matrix_groups_kept():
    _, forms, report = imported("redcapr-longitudinal.csv")
    items = forms["DEMOGRAPHICS"]["properties"]
    assert [oid for oid, item in items.items() if item.get("x-ecrf-identifier")] == [
        "FIRST_NAME",
        "LAST_NAME",
        "TELEPHONE_1",
        "EMAIL",
        "DOB",
    ]
    assert items["FIRST_NAME"]["x-ecrf-section"] == "Contact Information"
    assert items["GYM"]["x-ecrf-source-group"] == "weekly_schedule"
    assert items["TELEPHONE_1"]["description"] == "Include Area Code"  # the field note is the help text
    assert outcomes(report, "identifier")["dob"] == "carried"


# ---------------------------------------------------------------- soft limits, branching logic, calculations


def test_redcap_min_and_max_are_query_checks_never_schema_limits():
    _, forms, _ = imported("redcapr-clinical-trial-1.csv")
    form = forms["DEMOGRAPHICS"]
    assert not {"minimum", "maximum"} & set(form["properties"]["WEIGHT"])
    checks = {check["id"]: check for check in form["x-ecrf-checks"]}
    assert checks["RANGE_WEIGHT_MAX"]["rule"] == "!has(data.WEIGHT) || data.WEIGHT <= 300.0"
    assert checks["RANGE_DOB_MIN"]["rule"] == '!has(data.DOB) || data.DOB >= "1900-01-01"'
    assert all(check["severity"] == "query" for check in checks.values())
    compiled = compile_form("DEMOGRAPHICS", form)
    assert compiled.validator.is_valid({"WEIGHT": 400, "DOB": "1850-01-01"})  # out of range: saved, then queried
    assert not compiled.validator.is_valid({"WEIGHT": "heavy"})


def test_a_required_field_with_simple_branching_logic_is_shown_and_required_only_while_it_holds():
    _, forms, report = imported("edge-logic.csv")
    form = forms["SCREENING"]
    assert form["required"] == ["VISIT_DATE", "SEX"]
    assert {
        "if": {"properties": {"SEX": {"const": 2}}, "required": ["SEX"]},
        "then": {"required": ["PREGNANT"]},
    } in form["allOf"]
    assert {
        "if": {"properties": {"SYMPTOMS": {"contains": {"const": 1}}}, "required": ["SYMPTOMS"]},
        "then": {"required": ["FEVER_TEMP"]},
    } in form["allOf"]
    compiled = compile_form("SCREENING", form)
    assert compiled.hidden_with_value({"SEX": 1, "PREGNANT": True}) == ["/PREGNANT"]
    assert compiled.missing_items({"SEX": 2, "VISIT_DATE": "2026-01-01"}) == ["/PREGNANT"]
    assert outcomes(report, "branching logic")["pregnant"] == "translated"


def test_other_branching_logic_is_a_query_when_the_hidden_field_holds_a_value():
    _, forms, _ = imported("redcapr-longitudinal.csv")
    checks = {check["id"]: check for check in forms["DEMOGRAPHICS"]["x-ecrf-checks"]}
    assert (
        checks["SHOWN_NUM_CHILDREN"]["rule"]
        == "(data.SEX == 0.0 && data.GIVEN_BIRTH == true) || !has(data.NUM_CHILDREN)"
    )
    assert checks["SHOWN_NUM_CHILDREN"]["item"] == "/NUM_CHILDREN"


def test_calculations_become_derived_values_and_the_untranslatable_stay_visible_and_disabled():
    _, forms, report = imported("edge-logic.csv")
    screening, followup = forms["SCREENING"], forms["FOLLOWUP"]
    assert screening["x-ecrf-derived"]["CATEGORY"]["expr"] == "(data.AGE >= 65.0 ? 2.0 : 1.0)"
    assert (
        followup["x-ecrf-derived"]["WEIGHT_CHANGE"]["expr"] == "data.FU_WEIGHT - records.SCREENING_ARM_1.SCREENING.AGE"
    )
    assert screening["x-ecrf-derived"]["AGE_NOW"]["expr"] == "null"
    disabled = {(rule["source-oid"], rule["kind"]) for form in forms.values() for rule in form["x-ecrf-disabled"]}
    assert disabled == {
        ("age_now", "REDCap calculation"),
        ("event_smart", "REDCap branching logic"),
        ("power", "REDCap calculation"),
    }
    assert outcomes(report, "calculation") == {
        "score": "translated",
        "age_days": "translated",
        "age_now": "disabled",
        "category": "translated",
        "weight_change": "translated",
        "power": "disabled",
    }
    assert "EVENT_SMART" in followup["properties"]  # the field stays, only its logic is not run


def test_names_that_are_not_engine_oids_are_renamed_and_reported():
    _, forms, report = imported("edge-logic.csv")
    items = forms["FOLLOWUP"]["properties"]
    assert items["ROW_ID_2"]["x-ecrf-source-oid"] == "row_id"
    long = [oid for oid, item in items.items() if item["x-ecrf-source-oid"] == "x" * 70]
    assert len(long) == 1 and len(long[0]) <= 64
    assert outcomes(report, "validation max")["dob"] == "dropped"  # 'today' needs a clock


# ---------------------------------------------------------------- schedule


def test_a_classic_project_gets_one_event_holding_every_instrument():
    study, _, report = imported("redcapr-simple.csv")
    assert study["events"] == [
        {
            "oid": "EVENT",
            "name": "Default event",
            "stage": "imported",
            "day": None,
            "window": None,
            "repeating": False,
            "forms": ["DEMOGRAPHICS", "HEALTH", "RACE_AND_ETHNICITY"],
        }
    ]
    assert outcomes(report, "event") == {"EVENT": "translated"}
    assert "repeating_instruments" in report.facts  # said, since a dictionary cannot tell


def test_events_and_the_mapping_build_the_schedule_with_days_and_windows():
    study, _, _ = imported("edge-logic.csv")
    assert [(e["oid"], e["day"], e["window"], e["forms"]) for e in study["events"]] == [
        ("SCREENING_ARM_1", 0, {"before": 0, "after": 0}, ["SCREENING"]),
        ("VISIT_2_ARM_1", 28, {"before": 3, "after": 3}, ["FOLLOWUP"]),
    ]
    study, _, report = imported("redcapr-longitudinal.csv")
    assert len(study["events"]) == 12 and study["events"][6]["name"] == "Enrollment (arm 2)"
    assert study["events"][2]["forms"] == [
        "VISIT_LAB_DATA",
        "PATIENT_MORALE_QUESTIONNAIRE",
        "VISIT_BLOOD_WORKUP",
        "VISIT_OBSERVED_BEHAVIOR",
    ]
    assert outcomes(report, "arm") == {"1, 2": "translated"}


def test_a_repeating_instrument_is_one_repeating_group_with_row_checks():
    _, forms, report = imported("redcapr-repeating-instruments.csv")
    bp = forms["BP"]
    assert list(bp["properties"]) == ["BP"] and bp["properties"]["BP"]["type"] == "array"
    assert list(bp["properties"]["BP"]["items"]["properties"]) == ["DATE_BP", "BP_SYSTOLIC", "BP_DIASTOLIC"]
    assert bp["x-ecrf-checks"][0]["item"] == "/BP/*/BP_SYSTOLIC"
    assert bp["x-ecrf-checks"][0]["rule"] == "!has(row.BP_SYSTOLIC) || row.BP_SYSTOLIC >= 0.0"
    assert outcomes(report, "repeating instrument") == {"bp": "translated"}


# ---------------------------------------------------------------- refusals


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


HEADER = 'Variable / Field Name,Form Name,Field Type,Field Label,"Choices, Calculations, OR Slider Labels"\n'


@pytest.mark.parametrize(
    "body, message",
    [
        ("record_id,f,text,ID,\nsex,f,radio,Sex,\n", "dd.csv:3: field 'sex' is a radio without choices"),
        (
            'record_id,f,text,ID,\nsex,f,radio,Sex,"1, M | 1, F"\n',
            "dd.csv:3: field 'sex': choice code '1' appears twice",
        ),
        ("record_id,f,text,ID,\nx,f,matrix,X,\n", "dd.csv:3: field 'x' has field type 'matrix'"),
        ("record_id,f,text,ID,\nx,f,slider,X,\n", None),
    ],
)
def test_inconsistent_fields_are_refused_with_file_and_line(tmp_path, body, message):
    path = write(tmp_path, "dd.csv", HEADER + body)
    if message is None:
        assert dictionary_to_study(path)[1]["F"]["properties"]["X"]["maximum"] == 100
        return
    with pytest.raises(ImportError_) as refused:
        dictionary_to_study(path)
    assert str(refused.value).startswith(f"{tmp_path}/{message}")


@pytest.mark.parametrize(
    "events, mapping, message",
    [
        (
            "unique_event_name\nv1\n",
            "unique_event_name,form\nv2,f\n",
            "map.csv:2: event 'v2' is not in the events file",
        ),
        ("unique_event_name\nv1\n", "unique_event_name,form\nv1,g\n", "map.csv:2: instrument 'g' is not in the data"),
        ("unique_event_name\nv1\nv1\n", "unique_event_name,form\nv1,f\n", "ev.csv:3: event 'v1' listed twice"),
        ("unique_event_name,day_offset\nv1,soon\n", "unique_event_name,form\nv1,f\n", "ev.csv:2: day_offset 'soon'"),
        ("name\nv1\n", "unique_event_name,form\nv1,f\n", "ev.csv:1: not a REDCap events file"),
        ("unique_event_name\nv1\n", None, "ev.csv: an events file needs the instrument-event mapping"),
    ],
)
def test_inconsistent_schedule_files_are_refused_with_file_and_line(tmp_path, events, mapping, message):
    dictionary = write(tmp_path, "dd.csv", HEADER + "record_id,f,text,ID,\n")
    ev = write(tmp_path, "ev.csv", events)
    mp = write(tmp_path, "map.csv", mapping) if mapping else None
    with pytest.raises(ImportError_) as refused:
        dictionary_to_study(dictionary, ev, mp)
    assert str(refused.value).startswith(f"{tmp_path}/{message}")


def test_a_mapping_alone_builds_the_events_it_names(tmp_path):
    dictionary = write(tmp_path, "dd.csv", HEADER + "record_id,f,text,ID,\nx,g,text,X,\n")
    mapping = write(tmp_path, "map.csv", "unique_event_name,form\nv1,f\nv1,g\nv2,g\n")
    study, _, _ = dictionary_to_study(dictionary, mapping=mapping)
    assert [(e["oid"], e["forms"]) for e in study["events"]] == [("V1", ["F", "G"]), ("V2", ["G"])]


def test_an_existing_folder_is_never_written_into(tmp_path):
    study, forms, _ = imported("redcapr-simple.csv")
    (tmp_path / "draft").mkdir()
    (tmp_path / "draft" / "keep.txt").write_text("mine")
    with pytest.raises(ImportError_, match="folder exists and is not empty"):
        write_study(tmp_path / "draft", study, forms)
    assert [p.name for p in (tmp_path / "draft").iterdir()] == ["keep.txt"]
    assert json.loads(json.dumps(forms))  # the draft is plain JSON


def test_a_required_field_whose_logic_only_a_query_can_say_is_not_required_and_the_report_says_why(tmp_path):
    path = write(
        tmp_path,
        "dd.csv",
        "Variable / Field Name,Form Name,Field Type,Field Label,"
        '"Choices, Calculations, OR Slider Labels",Required Field?,Branching Logic (Show field only if...)\n'
        'record_id,f,text,ID,,,\nsex,f,radio,Sex,"1, M | 2, F",y,\nage,f,text,Age,,,\n'
        "preg,f,yesno,Pregnant,,y,[sex] = '2' or [age] > 50\n",
    )
    _, forms, report = dictionary_to_study(path)
    assert forms["F"]["required"] == ["SEX"] and "allOf" not in forms["F"]
    assert forms["F"]["x-ecrf-checks"][0]["rule"] == "(data.SEX == 2.0 || double(data.AGE) > 50.0) || !has(data.PREG)"
    assert [(e.oid, e.reason) for e in report.find("required")] == [
        (
            "preg",
            "required only while shown, and its branching logic is a query: not listed as required "
            "(a form missing it would never be complete)",
        )
    ]


def test_odd_shapes_stay_valid_and_reported_a_calc_named_note_a_trailing_heading_logic_on_text(tmp_path):
    path = write(
        tmp_path,
        "dd.csv",
        "Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"
        '"Choices, Calculations, OR Slider Labels",Branching Logic (Show field only if...)\n'
        "record_id,f,,text,ID,,\nnote,g,,calc,Note,1+1,\nintro,g,,descriptive,<b>Read</b> me,,[note] > 1\n"
        'tail,g,Last words,descriptive,Bye,,\nrad,h,,radio,R,"1, <i>One</i> | 2, Two",\n',
    )
    study, forms, report = dictionary_to_study(path)
    assert list(forms["G"]["properties"]) == ["NOTE_"] and list(forms["G"]["x-ecrf-derived"]) == ["NOTE"]
    assert forms["G"]["description"] == "Read me\n\nBye\n\nLast words"
    assert forms["H"]["properties"]["RAD"]["oneOf"][0] == {"const": 1, "title": "One"}
    assert outcomes(report, "branching logic") == {"intro": "dropped"}
    read_study(write_study(tmp_path / "draft", study, forms))


def test_a_field_of_another_instrument_is_read_from_the_current_event_as_redcap_does(tmp_path):
    path = write(
        tmp_path,
        "dd.csv",
        HEADER + "record_id,f,text,ID,\nw,g,text,W,\ntwice,f,calc,Twice,[w] * 2\n"
        "once,h,calc,Once,[w] + 1\nelse,h,calc,Else,[v1][w]\n",
    )
    mapping = write(tmp_path, "map.csv", "unique_event_name,form\nv1,f\nv1,g\nv2,f\nv2,g\nv3,h\n")
    _, forms, report = dictionary_to_study(path, mapping=mapping)
    expr = forms["F"]["x-ecrf-derived"]["TWICE"]["expr"]
    assert expr == "records[event.oid].G.W * 2.0"  # f is in two events: the one being saved
    context = bindings()
    context.bind("records", {"V2": {"G": {"W": 4}}})
    context.bind("event", {"oid": "V2"})
    assert evaluate(compile_expression(expr), context.context) == 8.0
    assert forms["H"]["x-ecrf-derived"]["ELSE"]["expr"] == "records.V1.G.W"
    assert [(e.oid, e.reason) for e in report.find("calculation", "disabled")] == [
        ("once", "kept in x-ecrf-disabled, not run: [w] is on instrument g, which the event of this form does not hold")
    ]
