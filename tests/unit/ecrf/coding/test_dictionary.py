"""The shipped CTCAE v5.0 table: its source and version, all 837 terms, codes unique, each with its code and class."""

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
CART_TERMS = ["Cytokine release syndrome", "Encephalopathy", "Seizure", "Edema cerebral", "Febrile neutropenia",
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
    assert len(terms) >= 50  # a smaller dictionary is not worth shipping
    assert len({t.code for t in terms}) == len(terms)
    assert len({t.term.casefold() for t in terms}) == len(terms)
    for term in terms:
        assert re.fullmatch(r"100\d{5}", term.code), term
        assert term.soc in SOCS, term
        assert term.term == term.term.strip() and term.term
        assert term.checked == "two-copies", term


def test_ctcae_is_the_whole_nci_table_every_row_agreeing_in_two_copies():
    ctcae = dictionary("CTCAE")
    assert len(ctcae.terms) == 837  # CTCAE v5.0 has 837 terms
    assert {t.soc for t in ctcae.terms} == SOCS - {"Product issues"}  # 26 classes: none in Product issues
    assert {t.checked for t in ctcae.terms} == {"two-copies"}


@pytest.mark.parametrize(("term", "code", "soc"), [
    # Three rows of the earlier 67-row subset (entered from memory) that the NCI table corrected.
    ("Confusion", "10010300", "Psychiatric disorders"),
    ("Tumor lysis syndrome", "10045152", "Metabolism and nutrition disorders"),
    ("Edema cerebral", "10014217", "Nervous system disorders"),
    # An "Other, specify" row carries the code of its class, so a site can report an event no term names.
    ("Blood and lymphatic system disorders - Other, specify", "10005329", "Blood and lymphatic system disorders"),
])
def test_terms_carry_the_code_and_class_nci_publishes(term, code, soc):
    known = dictionary().find(term)
    assert (known.code, known.soc) == (code, soc)


def test_cerebral_edema_is_not_a_ctcae_5_term():
    assert dictionary().find("Cerebral edema") is None


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
