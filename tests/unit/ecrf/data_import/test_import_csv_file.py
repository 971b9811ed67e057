"""A lab's CSV file read into submissions: BOM, CRLF and separators read as they come, formulas refused, maps
applied."""

import pytest

from ecrf.data_import.catalogue import Catalogue
from ecrf.data_import.csv_file import Options, read_table
from ecrf.data_import.mapping import read_map
from ecrf.data_import.submission import UnreadableFile, applied
from ecrf.definitions import CompiledForm
from ecrf.studies import StudyRuntime

CYTOKINES = {
    "title": "Cytokines",
    "type": "object",
    "properties": {
        "LBDTC": {"type": "string", "format": "date", "title": "Sample date"},
        "IL6": {"type": "number", "title": "IL-6", "x-ecrf-source-oid": "I_IL6"},
        "HGB": {"type": "number", "title": "Haemoglobin (g/L)"},
        "COPIES": {"type": "integer", "title": "CAR copies/ug DNA"},
        "COMMENT": {"type": "string", "title": "Comment"},
    },
}


@pytest.fixture
def catalogue():
    study = StudyRuntime(
        "h",
        {
            "oid": "S",
            "name": "S",
            "version": "1",
            "events": [
                {"oid": "D7", "name": "Day 7", "forms": ["CYTO"]},
                {"oid": "D14", "name": "Day 14", "forms": ["CYTO"]},
            ],
        },
        {"CYTO": CompiledForm("CYTO", CYTOKINES)},
    )
    return Catalogue(study)


LAB_OPTIONS = Options("CYTO", event_column="visit")


def read(tmp_path, catalogue, raw: bytes, options=LAB_OPTIONS, column_map=None):
    path = tmp_path / "lab.csv"
    path.write_bytes(raw)
    return read_table(path, catalogue, options, column_map)


def test_bom_crlf_and_semicolons_are_read_as_they_come(tmp_path, catalogue):
    raw = "\ufeffSubject;Visit;i_il6;LBDTC\r\n01-001;Day 7;12.5;2026-03-09\r\n\r\n01-002;D14;3;2026-03-16\r\n"
    first, second = read(tmp_path, catalogue, raw.encode())
    assert (first.line, first.subject, first.event, applied({}, first.changes)) == (
        2,
        "01-001",
        "D7",
        {"IL6": 12.5, "LBDTC": "2026-03-09"},
    )
    assert (second.line, second.event, applied({}, second.changes)) == (4, "D14", {"IL6": 3, "LBDTC": "2026-03-16"})


def test_formula_cells_are_refused_never_imported(tmp_path, catalogue):
    raw = b"subject,visit,IL6,COMMENT\n01-001,D7,=1+2,fine\n01-002,D7,-4.5,@SUM(A1)\n01-003,D7,+cmd,-x\n"
    rows = read(tmp_path, catalogue, raw)
    assert [[(f.path, f.message.split(": ")[-1]) for f in row.faults] for row in rows] == [
        [("/IL6", "a spreadsheet formula, not a value")],
        [("/COMMENT", "a spreadsheet formula, not a value")],
        [("/IL6", "a spreadsheet formula, not a value"), ("/COMMENT", "a spreadsheet formula, not a value")],
    ]
    assert applied({}, rows[1].changes) == {"IL6": -4.5}


def test_the_map_renames_columns_converts_units_and_names_events(tmp_path, catalogue):
    column_map = tmp_path / "map.yaml"
    column_map.write_text(
        'subject: Patient\nevent: Timepoint\nevents: {"wk1": D7}\ncolumns:\n'
        '  "Hb (g/dL)": {item: HGB, factor: 10}\n  "vector copies": COPIES\n  Lab note: null\n'
    )
    raw = b"Patient,Timepoint,Hb (g/dL),vector copies,Lab note\n01-001,wk1,13.5,41000,ignored\n"
    [row] = read(tmp_path, catalogue, raw, Options("CYTO"), read_map(column_map))
    assert (row.event, row.faults, applied({}, row.changes)) == ("D7", [], {"HGB": 135.0, "COPIES": 41000})


@pytest.mark.parametrize(
    "raw, says",
    [
        (b"subject,visit,POTASSIUM\n01-001,D7,4\n", "lab.csv:1: column 'POTASSIUM' matches no item of form CYTO"),
        (b"patient,visit,IL6\n01-001,D7,4\n", "lab.csv:1: no subject column 'subject'"),
        (b"subject,visit,IL6\n01-001,D7,4,5\n", "lab.csv:2: 4 cells under 3 headings"),
        (b"subject,visit,IL6\n\xff\xfe,D7,4\n", "lab.csv: not UTF-8 text"),
    ],
)
def test_a_file_that_cannot_be_matched_is_refused_naming_file_and_line(tmp_path, catalogue, raw, says):
    with pytest.raises(UnreadableFile, match=f"^{says}"):
        read(tmp_path, catalogue, raw)


def test_rows_naming_unknown_visits_or_repeating_a_visit_are_refused(tmp_path, catalogue):
    raw = b"subject,visit,IL6\n01-001,D99,1\n01-001,D7,2\n01-001,D7,3\n,D7,4\n"
    rows = read(tmp_path, catalogue, raw)
    assert [[f.message for f in row.faults] for row in rows] == [
        ["column 'visit': no event 'D99'"],
        [],
        ["the same subject and visit as line 3"],
        ["column 'subject' is empty"],
    ]


def test_a_map_that_is_not_a_map_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("columns:\n  IL6: {item: IL6, factor: zero}\n")
    with pytest.raises(UnreadableFile, match="map.yaml: columns/IL6/factor must be a non-zero number"):
        read_map(path)
    path.write_text("columns: [\n")
    with pytest.raises(UnreadableFile, match="map.yaml:2: not YAML"):
        read_map(path)
