"""Exports: CDISC ODM 1.3.2, CSV (zip) and Excel, streamed so memory stays flat as a study grows."""

from __future__ import annotations

from collections.abc import Iterator

from ecrf.exports.odm import write_odm
from ecrf.exports.tables import write_csv_zip, write_xlsx
from ecrf.roles import Action, require
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject

SUBJECT_BATCH = 10


def export_subjects(study: StudyRuntime, user=None, *, site: str | None = None,
                    subject: str | None = None) -> Iterator[Subject]:
    """The subjects an export covers, in subject order (streamed).

    With a ``user`` (API, pages) the export needs the export permission and
    stays within the user's sites; without one (the CLI, run by the operator
    of the server) it covers every site.
    """
    sites = None
    if user is not None:
        require(user, Action.EXPORT)
        sites = user.site_filter()
    query = {"study": study.oid}
    if site:
        query["site"] = site
    if sites is not None:
        query["site__in"] = sites if not site else [s for s in sites if s == site]
    if subject:
        query["subject_id"] = subject
    # A small batch: the cursor holds one batch of decoded subjects while the export runs.
    return (Subject.objects(**query).order_by("subject_id").only("subject_id", "site", "study_version")
            .batch_size(SUBJECT_BATCH).no_cache().timeout(False))


FORMATS = {
    "odm": ("application/xml", "xml"),
    "csv": ("application/zip", "zip"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}


def write_export(kind: str, out, study: StudyRuntime, subjects, progress=None) -> int:
    """Write one export of ``kind`` (odm, csv, xlsx) for these subjects to ``out``."""
    if kind == "odm":
        return write_odm(out, study, subjects, progress=progress)
    ids = [s.subject_id for s in subjects]
    return (write_csv_zip if kind == "csv" else write_xlsx)(out, study, ids, progress=progress)


def count_subjects(study: StudyRuntime, user, **filters) -> int:
    """How many subjects an export covers (for progress bars)."""
    return export_subjects(study, user, **filters).count()
