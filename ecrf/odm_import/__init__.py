"""Importing studies defined elsewhere: ODM 1.3.x metadata, shaped for REDCap dictionaries too.

``reader`` parses ODM safely, ``translate`` turns foreign expressions into CEL (``redcap_logic`` REDCap's, for
its project XML and its data dictionaries), ``report`` records what became of
each construct, ``metadata`` builds the draft study folder from an ODM MetaDataVersion with one reader per part
(``items``, ``rules``, ``forms``, ``redcap_attributes``; ``values`` and ``extension`` for what they share). A file
the engine exported itself comes back whole: its ``ecrf:`` aliases (:mod:`ecrf.odm_extension`) are read too.
"""

from ecrf.odm_import.metadata import odm_to_study, write_draft
from ecrf.odm_import.reader import ImportError_
from ecrf.odm_import.report import Report

__all__ = ["ImportError_", "Report", "odm_to_study", "write_draft"]
