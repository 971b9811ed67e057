"""API for source documents: list, attach (multipart/form-data), download and remove a record's files."""

from __future__ import annotations

from flask import current_app, g, jsonify, request

from ecrf import attachments
from ecrf.api import schemas
from ecrf.api.blueprint import api, json_body
from ecrf.api.fields.attachments import attachment_json
from ecrf.downloads import attachment_download
from ecrf.errors import FieldError, Invalid, UnsupportedMediaType

RECORD = "/studies/<study>/subjects/<subject>/events/<event>/forms/<form>/attachments"
ONE = "/studies/<study>/subjects/<subject>/attachments/<attachment_id>"
UPLOAD_OVERHEAD = 64_000  # the multipart envelope around the file


@api.url_value_preprocessor
def _upload_limit(endpoint: str | None, values: dict | None) -> None:
    # Before the body is read (and before the app's own size check): an upload may be as large as a file may.
    if endpoint == "api.attachment_upload":
        request.max_content_length = current_app.config["ECRF"].attachment_max_bytes + UPLOAD_OVERHEAD


@api.get(RECORD)
def attachment_list(study, subject, event, form):
    g.runtime.form_in_event(event, form)
    return jsonify([attachment_json(a) for a in attachments.attachments_of(g.runtime, g.user, subject, event, form)])


@api.post(RECORD)
def attachment_upload(study, subject, event, form):
    attachments.attachable(g.runtime, g.user, subject, event, form)
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("send the file as multipart/form-data, in a part named 'file'")
    unknown = sorted((set(request.form) - {"item"}) | (set(request.files) - {"file"}))
    if unknown:
        raise Invalid("the upload has parts this route does not take",
                      [FieldError(f"/{name}", "unknown part; send only file and item") for name in unknown])
    posted = request.files.get("file")
    found = attachments.attach(g.runtime, g.user, subject, event, form, request.form.get("item") or None,
                               posted.filename if posted else "", posted.read() if posted else b"",
                               max_bytes=current_app.config["ECRF"].attachment_max_bytes)
    return jsonify(attachment_json(found)), 201


@api.get(ONE)
def attachment_file(study, subject, attachment_id):
    return attachment_download(g.runtime, g.user, subject, attachment_id)


@api.post(ONE + "/remove")
def attachment_remove(study, subject, attachment_id):
    body = schemas.load(schemas.ReasonRequest(), json_body())
    return jsonify(attachment_json(attachments.remove(g.runtime, g.user, subject, attachment_id, body.get("reason"))))
