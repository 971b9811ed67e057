"""The subject's progress: each cell's lifecycle and open queries, the form × event grid, the list, in one read each."""

import pytest
from conftest import OVERRIDDEN, SIGNING, counting_calls

from ecrf.progress import LIFECYCLE, form_grid, status_matrix, subjects_progress
from ecrf.studies import study_runtime
from ecrf.subjects import Subject

VS = {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70}
# target lifecycle -> (who, what) done in turn on SCREEN/VS after the first save
STEPS = {
    "incomplete": [],
    "complete": [],
    "verified": [("mon01", "sdv", {})],
    "signed": [("mon01", "sdv", {}), ("inv01", "sign", SIGNING)],
    "frozen": [("dm", "freeze", OVERRIDDEN)],
    "locked": [("mon01", "sdv", {}), ("inv01", "sign", SIGNING), ("dm", "lock", OVERRIDDEN)],
}


def _matrix(app, subject_id):
    with app.app_context():
        study = study_runtime("MINI")
        return study, status_matrix(study, Subject.objects(subject_id=subject_id).first())


def _cell(matrix, event, form):
    return next(c for e in matrix if e["event"] == event for c in e["forms"] if c["form"] == form)


@pytest.mark.parametrize("state", STEPS)
def test_each_cell_shows_where_its_record_stands(app, as_user, staff, subject, state):
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70} if state == "incomplete" else VS)
    for name, action, body in STEPS[state]:
        done = as_user(name).post(staff.record_path(subject, "SCREEN", "VS") + f"/{action}", body)
        assert done.status_code in (200, 201), done.get_json()
    _, matrix = _matrix(app, subject)
    assert _cell(matrix, "SCREEN", "VS")["lifecycle"] == state
    assert _cell(matrix, "SCREEN", "DM")["lifecycle"] == "not_started"
    assert state in LIFECYCLE


def test_open_queries_are_counted_per_cell_and_closed_ones_are_not(app, as_user, staff, subject):
    staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 130})  # above 3 × ULN: a system query
    monitor = as_user("mon01")
    for text in ("Please check the weight", "And the height"):
        monitor.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "LB", "item": "/LBDTC",
                                               "text": text})
    _, matrix = _matrix(app, subject)
    lb = _cell(matrix, "SCREEN", "LB")
    assert lb["open_queries"] == 3
    assert _cell(matrix, "D28", "LB")["open_queries"] == 0
    first = staff.get(f"/studies/MINI/queries?subject={subject}").get_json()
    manual = next(q for q in first if q["origin"] == "manual")
    assert monitor.post(f"/studies/MINI/queries/{manual['id']}/close", {"text": "Fine"}).status_code == 200
    assert _cell(_matrix(app, subject)[1], "SCREEN", "LB")["open_queries"] == 2


def test_the_matrix_reads_records_and_queries_once_each(app, staff, subject, monkeypatch):
    staff.save(subject, "SCREEN", "VS", VS)
    staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 130})
    with app.app_context():
        study = study_runtime("MINI")
        found = Subject.objects(subject_id=subject).first()
        calls = counting_calls(monkeypatch, "find")
        status_matrix(study, found)
    assert sorted(calls) == ["queries", "records"]


def test_the_grid_has_forms_as_rows_events_as_columns_and_empty_cells_where_a_form_is_not_planned(app, staff, subject):
    study, matrix = _matrix(app, subject)
    grid = form_grid(study, matrix)
    assert [row["form"] for row in grid] == ["DM", "LB", "VS", "AE"]
    assert [e["event"] for e in matrix] == ["SCREEN", "D28", "LOGS"]
    lb = next(row for row in grid if row["form"] == "LB")
    assert [c and c["lifecycle"] for c in lb["cells"]] == ["not_started", "not_started", None]
    vs = next(row for row in grid if row["form"] == "VS")
    assert vs["cells"][1] is None and vs["cells"][2] is None


def test_the_list_counts_forms_done_of_those_planned_and_open_queries_in_one_read_each(app, staff, monkeypatch):
    first, second = staff.register(), staff.register()
    staff.save(first, "SCREEN", "VS", VS)
    staff.save(first, "SCREEN", "DM", {"SEX": "M"})  # incomplete: not done
    staff.save(second, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 130})
    with app.app_context():
        study = study_runtime("MINI")
        subjects = list(Subject.objects(subject_id__in=[first, second]))
        calls = counting_calls(monkeypatch, "find")
        progress = subjects_progress(study, subjects)
    assert sorted(calls) == ["queries", "records"]
    # planned: SCREEN's DM, LB, VS and D28's LB (the log is not planned)
    review = {key: value for key, value in progress[first].pop("review").items() if value}
    assert review == {"awaiting": 2}  # VS and DM saved, neither verified (SDV of every item: no sdv setting)
    assert progress[second].pop("review")["awaiting"] == 1
    assert progress[first] == {"done": 1, "planned": 4, "open_queries": 0}
    assert progress[second] == {"done": 1, "planned": 4, "open_queries": 1}
