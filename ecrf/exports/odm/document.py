"""The ODM document: metadata, admin data and clinical data written incrementally, one subject at a time."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import odmlib
from lxml import etree

from audit import utc_now
from ecrf.exports.odm.admin import admin_data
from ecrf.exports.odm.clinical import read_subject, subject_data
from ecrf.exports.odm.elements import NS, NSMAP, iso, mdv_oid
from ecrf.exports.odm.metadata import metadata
from ecrf.exports.odm.signatures import casebook_signatures
from ecrf.exports.readahead import read_ahead
from ecrf.odm_extension.aliases import ECRF_NS
from ecrf.studies import StudyRuntime
from ecrf.trail import audit_store


def write_odm(out: BinaryIO, study: StudyRuntime, subjects, *, progress: Callable[[int], None] | None = None,
              with_audit: bool = True) -> int:
    """Write an ODM 1.3.2 document (metadata, admin data, clinical data with audit trail); returns subjects written."""
    # One store for the export: each pymongo Collection made parks a tuple in CPython's free list
    # (one per subject, up to 2,000), which tracemalloc counts as memory the export holds.
    written, store = 0, audit_store()
    with etree.xmlfile(out, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(
            f"{{{NS}}}ODM",
            {
                "FileType": "Transactional" if with_audit else "Snapshot",
                "Granularity": "All",
                "FileOID": f"ECRF.{study.oid}.{utc_now().strftime('%Y%m%dT%H%M%S')}",
                "CreationDateTime": iso(utc_now()),
                "ODMVersion": "1.3.2",
                "Originator": "eCRF engine",
                "SourceSystem": "ecrf",
            },
            nsmap={**NSMAP, "ecrf": ECRF_NS},
        ):
            xf.write(metadata(study))
            xf.write(admin_data(study, store))
            with xf.element(f"{{{NS}}}ClinicalData", {"StudyOID": study.oid, "MetaDataVersionOID": mdv_oid(study)}):
                # The next subject's documents are read while this one's XML is built and written.
                def read(subject):
                    return read_subject(study, subject, store, with_audit=with_audit)

                for subject, documents in read_ahead(subjects, read):
                    xf.write(subject_data(study, subject, with_audit=with_audit, store=store, documents=documents))
                    for element in casebook_signatures(subject, documents):
                        xf.write(element)
                    xf.flush()
                    written += 1
                    if progress:
                        progress(1)
    return written


@lru_cache(maxsize=1)
def odm_schema() -> etree.XMLSchema:
    """The official ODM 1.3.2 XSD, as shipped by odmlib."""

    path = Path(odmlib.__file__).parent / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"
    return etree.XMLSchema(etree.parse(str(path)))
