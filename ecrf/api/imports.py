"""API for clinical data imports: upload a file (202 and a job), then poll the job."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, g, jsonify, request, url_for

from ecrf.api import schemas
from ecrf.api.blueprint import api
from ecrf.api.fields.imports import job_json
from ecrf.data_import.jobs import get_job, start_import
from ecrf.errors import FieldError, Invalid, UnsupportedMediaType
from ecrf.roles import Action, require

UPLOADS = ("file", "map")


def import_folder() -> Path:
    """Where uploads are kept for their jobs (under the instance folder)."""
    return Path(current_app.instance_path) / "imports"


def _upload(name: str) -> bytes | None:
    found = request.files.get(name)
    if found is not None:
        return found.read()
    text = request.form.get(name)
    return text.encode() if text is not None else None


@api.post("/studies/<study>/imports")
def start_import_job(study: str):
    """Start an import (multipart: file, kind, form, event..., dry_run); 202 with the job to poll."""
    user, runtime = g.user, g.runtime
    require(user, Action.IMPORT_DATA)
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("send the file as multipart/form-data")
    options = schemas.load(schemas.ImportOptions(), {k: v for k, v in request.form.items() if k not in UPLOADS})
    content = _upload("file")
    if content is None:
        raise Invalid("the file is missing", [FieldError("/file", "an ODM or CSV file is required")])
    upload = request.files.get("file")
    kind, dry_run, all_or_nothing = options.pop("kind"), options.pop("dry_run"), options.pop("all_or_nothing")
    job = start_import(import_folder(), current_app._get_current_object().app_context, runtime, user, kind,
                       upload.filename if upload is not None else None, content, options,
                       map_content=_upload("map"), dry_run=dry_run, all_or_nothing=all_or_nothing)
    location = url_for("api.import_job", study=runtime.oid, job_id=job.job_id)
    return jsonify(job_json(job)), 202, {"Location": location}


@api.get("/studies/<study>/imports/<job_id>")
def import_job(study: str, job_id: str):
    """One import job: state, progress, counts, rows and refused rows."""
    return jsonify(job_json(get_job(g.runtime, g.user, job_id)))
