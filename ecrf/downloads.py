"""Files sent to the browser or an API client as downloads, built in a temporary file first.

A web-layer module: the HTML views and the API routes both answer with these; services only write to a file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import BinaryIO

from flask import Response, send_file

from ecrf.exports.casebook import write_casebook
from ecrf.safety.cioms import write_cioms
from ecrf.safety.reports import SaeReport
from ecrf.studies import StudyRuntime


def spooled_download(write: Callable[[BinaryIO], None], mimetype: str, download_name: str) -> Response:
    """An attachment of what ``write`` puts in a temporary file; memory stays flat however large the file.

    ``write`` runs before anything is sent, so a refusal it raises is answered as an error, never a partial file.
    """
    spool = tempfile.TemporaryFile()
    try:
        write(spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return send_file(spool, mimetype=mimetype, as_attachment=True, download_name=download_name)


def casebook_download(runtime: StudyRuntime, user, subject_id: str) -> Response:
    """The subject's complete casebook as a PDF attachment named ``casebook-<subject>.pdf``.

    :raise 403/404: as :func:`~ecrf.exports.casebook.write_casebook` refuses the user or the subject.
    """
    return spooled_download(lambda spool: write_casebook(spool, runtime, user, subject_id),
                            "application/pdf", f"casebook-{subject_id}.pdf")


def cioms_download(runtime: StudyRuntime, report: SaeReport, lang: str) -> Response:
    """The SAE report as a CIOMS-I PDF attachment named ``cioms-<report id>.pdf`` in ``lang``."""
    return spooled_download(lambda spool: write_cioms(spool, runtime, report, lang), "application/pdf",
                            f"cioms-{report.report_id}.pdf")
