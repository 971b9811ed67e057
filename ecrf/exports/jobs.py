"""Exports run in the background for the web pages: a job record, a file in the instance folder, a download."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from bson import ObjectId
from flask import Flask
from mongoengine import DateTimeField, Document, IntField, StringField

from audit import utc_now
from ecrf.errors import FieldError, Invalid, NotFound
from ecrf.exports import FORMATS, export_subjects, write_export
from ecrf.roles import Action, require
from ecrf.studies import StudyRuntime, study_runtime
from ecrf.text import check_text
from ecrf.users import User

log = logging.getLogger(__name__)


class ExportJob(Document):
    job_id = StringField(primary_key=True)
    study = StringField(required=True)
    kind = StringField(required=True, choices=tuple(FORMATS))
    site = StringField()
    subject = StringField()
    requested_by = StringField(required=True)
    state = StringField(default="running", choices=("running", "done", "failed"))
    progress = IntField(default=0)
    size = IntField()
    error = StringField()
    created_at = DateTimeField()
    finished_at = DateTimeField()
    meta = {"collection": "export_jobs", "indexes": [("requested_by", "-created_at")]}

    def path(self, folder: Path) -> Path:
        return folder / f"{self.job_id}.{FORMATS[self.kind][1]}"


def export_folder(app: Flask) -> Path:
    folder = Path(app.instance_path) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def start_export(app: Flask, study: StudyRuntime, user, kind: str, site: str | None = None,
                 subject: str | None = None) -> ExportJob:
    """Record a job and run the export on a background thread; returns at once."""
    require(user, Action.EXPORT)
    if kind not in FORMATS:
        raise Invalid("unknown export format", [FieldError("/kind", f"one of {', '.join(FORMATS)}")])
    for name, value in (("site", site), ("subject", subject)):
        check_text(value, f"/{name}", max_length=40, label=name.title())
    job = ExportJob(job_id=str(ObjectId()), study=study.oid, kind=kind, site=site or None, subject=subject or None,
                    requested_by=user.username, created_at=utc_now()).save(force_insert=True)
    username = user.username
    thread = threading.Thread(target=_run, args=(app, study.oid, job.job_id, username), daemon=True,
                              name=f"export-{job.job_id}")
    thread.start()
    return job


def _run(app: Flask, study_oid: str, job_id: str, username: str) -> None:
    with app.app_context():
        job = ExportJob.objects(job_id=job_id).first()
        target = job.path(export_folder(app))
        partial = target.with_suffix(target.suffix + ".part")
        try:
            study = study_runtime(study_oid)
            user = User.objects(username=username).first()
            subjects = export_subjects(study, user, site=job.site, subject=job.subject)
            with open(partial, "wb") as out:
                write_export(job.kind, out, study, subjects,
                             progress=lambda n: ExportJob.objects(job_id=job_id).update(inc__progress=n))
            partial.replace(target)
            ExportJob.objects(job_id=job_id).update(set__state="done", set__size=target.stat().st_size,
                                                    set__finished_at=utc_now())
        except Exception as exc:  # the page shows the failure; the log keeps the detail
            log.exception("export %s failed", job_id)
            partial.unlink(missing_ok=True)
            ExportJob.objects(job_id=job_id).update(set__state="failed", set__error=str(exc)[:500],
                                                    set__finished_at=utc_now())


def my_jobs(user, study: StudyRuntime, limit: int = 20) -> list[ExportJob]:
    """The user's recent export jobs for the study, newest first."""
    require(user, Action.EXPORT)
    return list(ExportJob.objects(requested_by=user.username, study=study.oid).order_by("-created_at").limit(limit))


def job_file(app: Flask, user, job_id: str) -> tuple[ExportJob, Path]:
    """The finished file of one of the user's jobs; 404 for anyone else's or an unfinished one."""
    require(user, Action.EXPORT)
    job = ExportJob.objects(job_id=job_id, requested_by=user.username).first() if ObjectId.is_valid(job_id) else None
    if job is None or job.state != "done":
        raise NotFound(f"no finished export {job_id!r}")
    return job, job.path(export_folder(app))
