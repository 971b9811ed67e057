"""Coded terms in ODM: each coding as an Annotation on a Context ItemData of the coded item.

ODM 1.3.2 has no element for a dictionary coding (ODM 2.0's ``Coding`` is not in the 1.3.2 XSD), so the
coding is an Annotation: a ``Flag`` names the dictionary and its version (``CL.CODING_DICTIONARY``, FlagType
``coding``) and the ``Comment`` carries the code, the term, the system organ class and the MedDRA version.
"""

from __future__ import annotations

from lxml import etree

from ecrf.coding.codings import Coding
from ecrf.definitions import CompiledForm
from ecrf.exports.odm.elements import E, group_oid, item_oid
from ecrf.exports.odm.reviews import annotation


def coding_comment(coding: Coding) -> str:
    """The Comment of a coding's Annotation: what it is coded to, by whom, with which dictionary version."""
    return (f"Coded to {coding.dictionary} {coding.dictionary_version} (MedDRA {coding.meddra_version}): "
            f"code {coding.code}; term {coding.term}; SOC {coding.soc}; verbatim {coding.verbatim}; "
            f"by {coding.coded_by} ({coding.method})")


def form_codings(form: CompiledForm, codings: list[Coding]) -> list[etree._Element]:
    """A Context ItemGroupData per coded item of the form, its ItemData carrying the coding's Annotation."""
    found = []
    for coding in codings:
        parts = coding.item.split("/")
        if coding.state != "coded" or len(parts) != 4 or parts[1] not in form.item_by_oid:
            continue
        flag = (f"{coding.dictionary} {coding.dictionary_version}", "CL.CODING_DICTIONARY", "coding",
                "CL.ECRF_FLAG_TYPE")
        found.append(E(
            "ItemGroupData",
            {"ItemGroupOID": group_oid(form.oid, parts[1]), "ItemGroupRepeatKey": parts[2],
             "TransactionType": "Context"},
            E("ItemData", {"ItemOID": item_oid(form.oid, parts[3]), "TransactionType": "Context"},
              annotation(1, coding_comment(coding), flag)),
        ))
    return found
