"""Importing studies defined elsewhere: ODM 1.3.x metadata now, shaped for REDCap dictionaries later.

``reader`` parses ODM safely, ``translate`` turns foreign expressions into CEL, ``report`` records what became of
each construct, ``metadata`` builds the draft study folder from an ODM MetaDataVersion.
"""

from ecrf.odm_import.metadata import odm_to_study, write_draft
from ecrf.odm_import.reader import ImportError_
from ecrf.odm_import.report import Report

__all__ = ["ImportError_", "Report", "odm_to_study", "write_draft"]
