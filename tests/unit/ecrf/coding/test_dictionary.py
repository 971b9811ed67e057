"""The shipped CTCAE v5.0 table: its source and version, codes unique, every term with its code and class."""

import re

import pytest

from ecrf.coding.dictionary import FILES, dictionary, parse

# The 27 MedDRA system organ classes, as CTCAE v5.0 names them.
SOCS = {
    "Blood and lymphatic system disorders", "Cardiac disorders", "Congenital, familial and genetic disorders",
    "Ear and labyrinth disorders", "Endocrine disorders", "Eye disorders", "Gastrointestinal disorders",
    "General disorders and administration site conditions", "Hepatobiliary disorders", "Immune system disorders",
    "Infections and infestations", "Injury, poisoning and procedural complications", "Investigations",
    "Metabolism and nutrition disorders", "Musculoskeletal and connective tissue disorders",
    "Neoplasms benign, malignant and unspecified (incl cysts and polyps)", "Nervous system disorders",
    "Pregnancy, puerperium and perinatal conditions", "Psychiatric disorders", "Renal and urinary disorders",
    "Reproductive system and breast disorders", "Respiratory, thoracic and mediastinal disorders",
    "Skin and subcutaneous tissue disorders", "Social circumstances", "Surgical and medical procedures",
    "Vascular disorders", "Product issues",
}
# What a CAR-T trial codes most: CRS, ICANS (encephalopathy and its signs), cytopenias, infections.
CART_TERMS = ["Cytokine release syndrome", "Encephalopathy", "Seizure", "Cerebral edema", "Febrile neutropenia",
              "Neutrophil count decreased", "Platelet count decreased", "Anemia", "Lymphocyte count decreased",
              "Sepsis", "Lung infection", "Hypotension", "Hypoxia", "Tumor lysis syndrome"]


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_dictionary_names_its_source_and_version(name):
    known = dictionary(name)
    assert known.name == name and re.fullmatch(r"\d+\.\d+", known.version)
    assert re.fullmatch(r"\d+\.\d+", known.meddra_version)
    assert "https://ctep.cancer.gov/" in known.source and "v5.0" in known.source


@pytest.mark.parametrize("name", sorted(FILES))
def test_codes_and_terms_are_unique_and_every_term_has_a_code_and_a_class(name):
    terms = dictionary(name).terms
    assert len(terms) >= 50
    assert len({t.code for t in terms}) == len(terms)
    assert len({t.term.casefold() for t in terms}) == len(terms)
    for term in terms:
        assert re.fullmatch(r"100\d{5}", term.code), term
        assert term.soc in SOCS, term
        assert term.term == term.term.strip() and term.term
        assert term.checked in ("v6-copy", "unchecked"), term


@pytest.mark.parametrize("term", CART_TERMS)
def test_the_terms_a_car_t_trial_needs_are_there(term):
    assert dictionary().find(term) is not None


def test_find_ignores_case_and_spaces_and_search_puts_prefix_matches_first():
    ctcae = dictionary()
    assert ctcae.find("  cytokine RELEASE syndrome ").code == "10052015"
    assert ctcae.find("CRS grade 3") is None and ctcae.find("") is None and ctcae.find(None) is None
    assert ctcae.by_code("10016288").term == "Febrile neutropenia"
    assert [t.term for t in ctcae.search("neutr")] == ["Neutrophil count decreased", "Febrile neutropenia"]


def test_a_header_value_may_run_onto_the_next_line():
    parsed = parse("# dictionary: X\n# version: 1.0\n# source: one\n#   two\nmeddra_code,term,soc,checked\n"
                   "10000001,A,Investigations,unchecked\n", "X")
    assert (parsed.name, parsed.version, parsed.source) == ("X", "1.0", "one two")
    assert parsed.terms[0].term == "A"
