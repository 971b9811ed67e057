"""`ecrf study import-redcap` end to end: CLI → draft folder → `study check` → saves on a real wire server."""

import json
from pathlib import Path

import pytest

from ecrf.redcap import dictionary_to_study, write_study
from tests.conftest import Api, make_app

FIXTURES = Path(__file__).parent.parent / "fixtures" / "redcap"
EDGE = ("edge-logic.csv", "--events", "edge-logic-events.csv", "--mapping", "edge-logic-mapping.csv")


def run(app, tmp_path, name: str, *extra: str):
    """``(exit code, output, folder, report dict)`` of the CLI on a fixture (extra file arguments under FIXTURES)."""
    folder, report = tmp_path / "draft", tmp_path / "report.json"
    args = [a if a.startswith("-") else str(FIXTURES / a) for a in (name, *extra)]
    result = app.test_cli_runner().invoke(args=["study", "import-redcap", *args, "-o", str(folder),
                                                "--report", str(report)])
    return result.exit_code, result.output, folder, json.loads(report.read_text()) if report.exists() else None


def test_the_cli_writes_a_draft_that_study_check_accepts_and_a_report(app, tmp_path):
    code, output, folder, report = run(app, tmp_path, *EDGE)
    assert code == 0, output
    assert output.splitlines()[0] == "25 carried, 23 translated, 3 disabled, 5 dropped (56 constructs)"
    assert "dropped: field lookup (line 22): a dynamic SQL field" in output
    assert "note: repeating instruments are not in the data dictionary: pass --repeating" in output
    assert output.rstrip().endswith("draft study REDCAP_EDGE_LOGIC with 2 forms and 2 events")
    assert report["format"] == "REDCap data dictionary" and report["record_id_field"] == "subject_id"
    assert report["counts"]["calculation"] == {"disabled": 2, "translated": 4}
    checked = app.test_cli_runner().invoke(args=["study", "check", str(folder)])
    assert checked.exit_code == 0 and checked.output.endswith("2 forms, 2 events: ok\n")


@pytest.mark.parametrize(
    "text, message",
    [
        ("name,form\nx,y\n", "dd.csv:1: not a REDCap data dictionary"),
        (
            '\ufeffVariable / Field Name,Form Name,Field Type,Field Label\r\nrecord_id,f,text,"ID\r\n',
            "dd.csv:2: not valid CSV",
        ),
        (
            "Variable / Field Name,Form Name,Field Type,Field Label\n@SUM(A1),f,text,X\n",
            "dd.csv:2: field name '@SUM(A1)'",
        ),
    ],
)
def test_hostile_or_wrong_input_exits_1_with_file_line_and_writes_nothing(app, tmp_path, text, message):
    source = tmp_path / "dd.csv"
    source.write_text(text, encoding="utf-8", newline="")
    result = app.test_cli_runner().invoke(args=["study", "import-redcap", str(source), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"error: {tmp_path}/{message}" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.fixture
def edge_staff(tmp_path, wire_uri):
    study, forms, _ = dictionary_to_study(
        FIXTURES / "edge-logic.csv", FIXTURES / "edge-logic-events.csv", FIXTURES / "edge-logic-mapping.csv"
    )
    app = make_app(tmp_path, wire_uri, write_study(tmp_path / "draft", study, forms))
    staff = Api(app.test_client(), app.tokens["staff01"], "REDCAP_EDGE_LOGIC")
    return staff, staff.register()


def test_a_value_outside_redcap_min_max_is_saved_with_a_query_never_refused(edge_staff):
    staff, subject = edge_staff
    saved = staff.save(subject, "SCREENING_ARM_1", "SCREENING", {"SEX": 1, "AGE": 80, "VISIT_DATE": "2026-01-05"})
    assert saved.status_code == 201, saved.get_json()
    assert [q["check"] for q in saved.get_json()["queries"]] == ["RANGE_AGE_MAX"]
    record = staff.get(staff.record_path(subject, "SCREENING_ARM_1", "SCREENING")).get_json()
    assert record["derived"]["CATEGORY"] == 2.0


def test_a_field_redcap_hides_is_refused_while_hidden_and_queried_when_its_logic_is_a_query(edge_staff):
    staff, subject = edge_staff
    hidden = staff.save(subject, "SCREENING_ARM_1", "SCREENING", {"SEX": 1, "PREGNANT": False})
    assert hidden.status_code == 422 and "/PREGNANT" in json.dumps(hidden.get_json())
    queried = staff.save(
        subject, "SCREENING_ARM_1", "SCREENING", {"SEX": 2, "PREGNANT": False, "AGE": 70, "ADULT_NOTE": "retired"}
    )
    assert queried.status_code == 201, queried.get_json()
    assert [q["check"] for q in queried.get_json()["queries"]] == ["SHOWN_ADULT_NOTE"]


def test_a_calculation_reading_another_event_runs_on_save(edge_staff):
    staff, subject = edge_staff
    assert staff.save(subject, "SCREENING_ARM_1", "SCREENING", {"AGE": 40}).status_code == 201
    saved = staff.save(subject, "VISIT_2_ARM_1", "FOLLOWUP", {"FU_WEIGHT": 70.5, "MOOD": 7})
    assert saved.status_code == 201, saved.get_json()
    record = staff.get(staff.record_path(subject, "VISIT_2_ARM_1", "FOLLOWUP")).get_json()
    assert record["derived"]["WEIGHT_CHANGE"] == 30.5
    refused = staff.save(subject, "VISIT_2_ARM_1", "FOLLOWUP", {"MOOD": 11}, version=1, reason="typo")
    assert refused.status_code == 422  # a slider's ends are hard: it cannot go past them
