"""Importing a REDCap project's data dictionary (and its events, mapping, repeating instruments) as a draft study.

``dictionary`` reads REDCap's CSV files, ``items`` turns a field into an item, ``conditions`` makes simple
branching logic a JSON Schema ``if``, ``schedule`` builds the events, ``builder`` puts the study together. The
report, the error type and the REDCap expression translator (:mod:`ecrf.odm_import.redcap_logic`, which the ODM
import of REDCap's project XML uses too) are shared with :mod:`ecrf.odm_import`.
"""

from ecrf.odm_import.reader import ImportError_
from ecrf.redcap.builder import dictionary_to_study, write_study

__all__ = ["ImportError_", "dictionary_to_study", "write_study"]
