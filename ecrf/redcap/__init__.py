"""Importing a REDCap project's data dictionary (and its events, mapping, repeating instruments) as a draft study.

``dictionary`` reads REDCap's CSV files, ``items`` turns a field into an item, ``logic`` translates branching
logic and calculations to CEL, ``schedule`` builds the events, ``builder`` puts the study together. The report,
the expression tokenizer and the error type are shared with :mod:`ecrf.odm_import`.
"""

from ecrf.odm_import.reader import ImportError_
from ecrf.redcap.builder import dictionary_to_study, write_study

__all__ = ["ImportError_", "dictionary_to_study", "write_study"]
