"""Source documents on the form page: attach a file to the record or an item, download it, remove it (audited)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from ecrf import attachments
from ecrf.downloads import attachment_download
from ecrf.errors import DomainError, Locked
from ecrf.i18n import current_language, translate
from ecrf.roles import Action, may
from ecrf.scope import page_scope
from ecrf.views.messages import flash_error

bp = Blueprint("attachments", __name__)
bp.url_value_preprocessor(page_scope)

RECORD = "/studies/<study>/subjects/<subject>/events/<event>/forms/<form>"
ONE = "/studies/<study>/subjects/<subject>/attachments/<attachment_id>"
UPLOAD_OVERHEAD = 64_000  # the multipart envelope around the file: boundaries, headers, the CSRF token


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, values: dict | None) -> None:
    # Before the body is read (and before the app's own size check): an upload may be as large as a file may.
    if endpoint == "attachments.upload":
        request.max_content_length = current_app.config["ECRF"].attachment_max_bytes + UPLOAD_OVERHEAD


def _form_page(study: str, subject: str, event: str, form: str) -> str:
    return url_for("records.page", study=study, subject=subject, event=event, form=form) + "#attachments"


@bp.post(RECORD + "/attachments")
@login_required
def upload(study: str, subject: str, event: str, form: str):
    """Attach the posted file (to the item chosen, or the record) and come back to the form's attachments."""
    back = _form_page(study, subject, event, form)
    if not FlaskForm().validate_on_submit():
        flash(translate("The form expired; try again.", current_language()), "error")
        return redirect(back)
    posted = request.files.get("file")
    try:
        found = attachments.attach(g.runtime, g.user, subject, event, form, request.form.get("item") or None,
                                   posted.filename if posted else "", posted.read() if posted else b"",
                                   max_bytes=current_app.config["ECRF"].attachment_max_bytes)
    except Locked:
        raise
    except DomainError as error:
        flash_error(error)
        return redirect(back)
    flash(translate("File attached", current_language()) + f": {found.filename}", "success")
    return redirect(back)


@bp.get(ONE)
@login_required
def file(study: str, subject: str, attachment_id: str):
    """The file, as a download (never shown inline: it came from outside)."""
    return attachment_download(g.runtime, g.user, subject, attachment_id)


@bp.post(ONE + "/remove")
@login_required
def remove(study: str, subject: str, attachment_id: str):
    """Take the file off its record with a reason (it stays in the audit trail)."""
    found = attachments.get_attachment(g.runtime, g.user, subject, attachment_id)
    back = _form_page(study, subject, found.event, found.form)
    if not FlaskForm().validate_on_submit():
        flash(translate("The form expired; try again.", current_language()), "error")
        return redirect(back)
    try:
        attachments.remove(g.runtime, g.user, subject, attachment_id, request.form.get("reason"))
    except Locked:
        raise
    except DomainError as error:
        flash_error(error)
        return redirect(back)
    flash(translate("File removed", current_language()) + f": {found.filename}", "success")
    return redirect(back)


def _panel(study, subject, event: str, form, editable: bool) -> dict:
    """What the form page's source-document panel shows: the record's files (kept and removed), who may act."""
    user = g.user
    found = attachments.attachments_of(study, user, subject.subject_id, event, form.oid)
    lang = current_language()
    labels = {f"/{item.oid}": item.label(lang) for item in form.items if item.kind != "group"}
    return {
        "kept": [a for a in found if not a.removed], "removed": [a for a in found if a.removed],
        "labels": labels, "can_attach": editable and may(user.role, Action.ENTER_DATA),
        "max_mb": current_app.config["ECRF"].attachment_max_bytes // 1_000_000,
    }


@bp.app_context_processor
def _attachments_panel() -> dict:
    return {"attachments_panel": _panel}
