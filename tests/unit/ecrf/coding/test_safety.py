"""The safety table: subjects by system organ class, preferred term and worst grade (table-driven)."""

import pytest

from ecrf.coding.safety import tabulate

CRS, ENC, FN = ("Immune system disorders", "Cytokine release syndrome"), ("Nervous system disorders",
                                                                          "Encephalopathy"), (
    "Blood and lymphatic system disorders", "Febrile neutropenia")


def ev(subject, where, grade):
    return {"subject": subject, "soc": where[0], "term": where[1], "grade": grade}


def row(table, soc, term=""):
    return next(r for r in table if r["soc"] == soc and r["term"] == term)


CASES = [
    # (events, subjects in scope, (soc, term), expected subjects, pct, worst grades {grade: subjects})
    ([ev("S1", CRS, 1), ev("S1", CRS, 3), ev("S1", CRS, 2)], 4, CRS, 1, 25.0, {3: 1}),
    ([ev("S1", CRS, 1), ev("S2", CRS, 4)], 2, CRS, 2, 100.0, {1: 1, 4: 1}),
    ([ev("S1", CRS, None), ev("S1", CRS, 2)], 1, CRS, 1, 100.0, {2: 1}),  # ungraded never lowers a grade
    ([ev("S1", CRS, 2), ev("S1", CRS, None)], 1, CRS, 1, 100.0, {2: 1}),
    ([ev("S1", CRS, None)], 1, CRS, 1, 100.0, {None: 1}),
    ([ev("S1", CRS, 9)], 1, CRS, 1, 100.0, {None: 1}),  # not a CTCAE grade: counted, ungraded
    ([ev("S1", CRS, 5), ev("S2", FN, 3)], 0, CRS, 1, None, {5: 1}),  # no subject in scope: no percentage
]


@pytest.mark.parametrize(("events", "scope", "where", "subjects", "pct", "worst"), CASES)
def test_each_subject_counts_once_at_their_worst_grade(events, scope, where, subjects, pct, worst):
    line = row(tabulate(events, scope), *where)
    assert line["subjects"] == subjects and line["pct"] == pct
    assert {g: n for g, n in line["worst"].items() if n} == worst


def test_a_class_counts_each_subject_once_over_its_terms_at_the_worst_grade_of_any():
    events = [ev("S1", ENC, 2), ev("S1", ("Nervous system disorders", "Seizure"), 4), ev("S2", ENC, 1),
              ev("S3", CRS, 1)]
    table = tabulate(events, 10)
    nervous = row(table, "Nervous system disorders")
    assert nervous["level"] == "soc" and nervous["subjects"] == 2 and nervous["pct"] == 20.0
    assert {g: n for g, n in nervous["worst"].items() if n} == {4: 1, 1: 1}
    # Classes by subjects (most first), each followed by its terms, also by subjects then name.
    assert [(r["level"], r["soc"][:6], r["term"]) for r in table] == [
        ("soc", "Nervou", ""), ("term", "Nervou", "Encephalopathy"), ("term", "Nervou", "Seizure"),
        ("soc", "Immune", ""), ("term", "Immune", "Cytokine release syndrome")]


def test_no_events_make_an_empty_table():
    assert tabulate([], 5) == []
