"""CDISC ODM 1.3.2 export: study metadata built from the form definitions, and clinical data with the
whole audit trail (one ItemData per change, each with the AuditRecord of the event that made it; derived
values with the event whose recomputation changed them), queries as Annotations on the items they name,
review steps (SDV, lock, freeze) and every signature, valid or voided, with the meaning signed.

One module per part of the document: ``metadata`` (Study: events, forms, groups; with ``items``,
for what the form language says, with :mod:`ecrf.odm_extension` for the ``ecrf:`` aliases and conditions),
``admin`` (users, sites, signature meanings), ``clinical`` (SubjectData), ``reviews`` (queries and review steps),
``signatures``, ``audit_records``, and ``document`` which writes the whole file. docs/odm-export.md maps each construct.
"""

from ecrf.exports.odm.admin import admin_data
from ecrf.exports.odm.clinical import SubjectDocuments, read_subject, subject_data
from ecrf.exports.odm.document import odm_schema, write_odm
from ecrf.exports.odm.elements import NS, group_oid, iso, item_oid, mdv_oid, unit_oid
from ecrf.exports.odm.metadata import metadata
from ecrf.exports.odm.signatures import casebook_signatures, signature_def_oid
from ecrf.odm_extension.aliases import ECRF_NS

__all__ = [
    "ECRF_NS",
    "NS",
    "SubjectDocuments",
    "admin_data",
    "casebook_signatures",
    "group_oid",
    "item_oid",
    "iso",
    "mdv_oid",
    "metadata",
    "odm_schema",
    "read_subject",
    "signature_def_oid",
    "subject_data",
    "unit_oid",
    "write_odm",
]
