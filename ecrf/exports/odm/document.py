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
from ecrf.studies import Study, StudyRuntime
from ecrf.study_versions import pinned_runtime
from ecrf.subjects import Subject
from ecrf.trail import audit_store


def versions_in_use(study: StudyRuntime) -> list[StudyRuntime]:
    """The current version, then each older one a casebook of the study is pinned to (by definition hash)."""
    if Study._get_collection().count_documents({"oid": study.oid}) < 2:  # one version loaded: nothing to look up
        return [study]
    pinned = {h for h in Subject._get_collection().distinct("study_version", {"study": study.oid}) if h}
    return [study, *[pinned_runtime(study, h) for h in sorted(pinned - {study.definition_hash})]]


def write_odm(out: BinaryIO, study: StudyRuntime, subjects, *, progress: Callable[[int], None] | None = None,
              with_audit: bool = True) -> int:
    """Write an ODM 1.3.2 document (metadata, admin data, clinical data with audit trail); returns subjects written.

    Each subject's casebook is written with the study version it is pinned to: one MetaDataVersion and one
    ClinicalData per version in use, the current first (``subjects`` is read once per version: a query or list).
    """
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
            versions = versions_in_use(study)
            xf.write(metadata(study, tuple(versions[1:])))
            xf.write(admin_data(study, store))
            for version in versions:
                written += _clinical_data(xf, study, version, subjects, store, with_audit, progress,
                                          only_version=len(versions) > 1)
    return written


def _clinical_data(xf, study: StudyRuntime, version: StudyRuntime, subjects, store, with_audit: bool,
                   progress: Callable[[int], None] | None, only_version: bool) -> int:
    """The ClinicalData of the subjects pinned to ``version`` (all of them unless ``only_version``)."""
    written = 0

    def mine(subject) -> bool:
        return not only_version or (subject.study_version or study.definition_hash) == version.definition_hash

    with xf.element(f"{{{NS}}}ClinicalData", {"StudyOID": study.oid, "MetaDataVersionOID": mdv_oid(version)}):
        # The next subject's documents are read while this one's XML is built and written.
        def read(subject):
            return read_subject(version, subject, store, with_audit=with_audit)

        for subject, documents in read_ahead((s for s in subjects if mine(s)), read):
            xf.write(subject_data(version, subject, with_audit=with_audit, store=store, documents=documents))
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
