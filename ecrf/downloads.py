"""Files sent to the browser or an API client as downloads, built in a temporary file first.

A web-layer module: the HTML views and the API routes both answer with these; services only write to a file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import BinaryIO

from flask import Response, send_file

from ecrf.attachments import download
from ecrf.exports.casebook import write_casebook
from ecrf.i18n import current_language, message_text, translate
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
    """The subject's complete casebook as a PDF attachment named ``casebook-<subject>.pdf``, in the reader's language.

    :raise 403/404: as :func:`~ecrf.exports.casebook.write_casebook` refuses the user or the subject.
    """
    lang = current_language()
    return spooled_download(lambda spool: write_casebook(spool, runtime, user, subject_id, lang,
                                                         lambda text: translate(text, lang),
                                                         lambda said: message_text(said, lang)),
                            "application/pdf", f"casebook-{subject_id}.pdf")


def attachment_download(runtime: StudyRuntime, user, subject_id: str, attachment_id: str) -> Response:
    """A source document as an attachment under its uploaded name, typed as sniffed, never rendered inline.

    Read whole into a temporary file first, so a file altered since it was attached (its SHA-256 differs from
    its audit event) is refused with 409 instead of sent.
    """
    found = download(runtime, user, subject_id, attachment_id)

    def write(spool: BinaryIO) -> None:
        for chunk in found.chunks:
            spool.write(chunk)

    response = spooled_download(write, found.attachment.media_type, found.name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def cioms_download(runtime: StudyRuntime, report: SaeReport, lang: str) -> Response:
    """The SAE report as a CIOMS-I PDF attachment named ``cioms-<report id>.pdf`` in ``lang``."""
    return spooled_download(lambda spool: write_cioms(spool, runtime, report, lang), "application/pdf",
                            f"cioms-{report.report_id}.pdf")
