"""``ecrf import odm|csv``: progress, summary, errors file, exit status;
files that cannot be read name file and line."""

import pytest
from conftest import Api, save_several_streams

LAB = "subject,site,visit,LBDTC,ALT\n01-001,01,SCREEN,2026-03-01,35\n01-002,01,D28,2026-03-29,fifty\n"


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_csv_import_summarises_writes_refusals_and_exits_2_when_rows_were_refused(tmp_path, run):
    lab, errors = tmp_path / "lab.csv", tmp_path / "refused.csv"
    lab.write_text(LAB)
    result = run(
        "import",
        "csv",
        str(lab),
        "--study",
        "MINI",
        "--form",
        "LB",
        "--event-column",
        "visit",
        "--as",
        "dm",
        "--errors",
        str(errors),
    )
    assert result.exit_code == 2, result.output
    assert (
        "lab.csv: created 1, updated 0, unchanged 0, refused 1; queries raised 0; subjects registered 1"
        in result.output
    )
    assert "lab.csv:3: 01-002 D28/LB /ALT (ALT): column 'ALT' (ALT): 'fifty' is not a number" in result.output
    assert errors.read_text().splitlines()[1].startswith("3,01-002,D28,LB,/ALT,ALT,")
    again = run("import", "csv", str(lab), "--study", "MINI", "--form", "LB", "--event-column", "visit", "--as", "dm")
    assert "created 0, updated 0, unchanged 1, refused 1" in again.output


def test_dry_run_and_all_or_nothing_say_nothing_was_written(tmp_path, run):
    lab = tmp_path / "lab.csv"
    lab.write_text(LAB)
    common = ("import", "csv", str(lab), "--study", "MINI", "--form", "LB", "--event-column", "visit", "--as", "dm")
    dry = run(*common, "--dry-run")
    assert "would be created 1, would be updated 0" in dry.output and dry.exit_code == 2
    assert "lab.csv:2: 01-001 (new subject) SCREEN/LB would be created" in dry.output
    stopped = run(*common, "--all-or-nothing")
    assert stopped.exit_code == 1 and "nothing written (--all-or-nothing)" in stopped.output
    assert "unchanged 0" in run(*common, "--dry-run").output  # still nothing stored


def test_an_unreadable_file_exits_1_naming_file_and_line(tmp_path, run):
    bad = tmp_path / "bad.xml"
    bad.write_text('<?xml version="1.0"?>\n<!DOCTYPE ODM [<!ENTITY a "x">]>\n<ODM/>\n')
    result = run("import", "odm", str(bad), "--study", "MINI", "--as", "dm")
    assert result.exit_code == 1
    assert "error: bad.xml:1: the document declares entities" in result.output


def test_odm_export_reimports_into_the_same_study_unchanged(app, tmp_path, run):
    save_several_streams(Api(app.test_client(), app.tokens["staff01"]))
    exported = tmp_path / "mini.xml"
    assert run("export", "odm", "--study", "MINI", "-o", str(exported)).exit_code == 0
    result = run("import", "odm", str(exported), "--study", "MINI", "--as", "dm")
    assert result.exit_code == 0, result.output
    assert "created 0, updated 0, unchanged 6, refused 0" in result.output


def test_site_staff_may_not_import(tmp_path, run):
    lab = tmp_path / "lab.csv"
    lab.write_text(LAB)
    result = run("import", "csv", str(lab), "--study", "MINI", "--form", "LB", "--event", "SCREEN", "--as", "staff01")
    assert result.exit_code == 1 and "may not import clinical data" in result.output
