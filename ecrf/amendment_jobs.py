"""Migrations run in the background for the study page: a job record, its progress, its report.

The caller (a view) hands over a factory of the context the thread runs in (the app's), so this
module knows nothing of Flask; the migration itself is :func:`ecrf.amendments.migrate`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager

from bson import ObjectId
from mongoengine import BooleanField, DateTimeField, DictField, Document, IntField, StringField

from audit import utc_now
from ecrf.amendments import migrate, migration_reason, subjects_to_migrate
from ecrf.errors import FieldError, NotFound
from ecrf.job_runs import failed, finished, job_of, recent, run_in_background
from ecrf.roles import Action, require
from ecrf.sites import get_site
from ecrf.studies import StudyRuntime, study_runtime
from ecrf.study_versions import find_version
from ecrf.users import User


class MigrationJob(Document):
    job_id = StringField(primary_key=True)
    study = StringField(required=True)
    to_version = StringField(required=True)
    site = StringField()
    subject = StringField()
    reason = StringField()
    dry_run = BooleanField(default=False)
    requested_by = StringField(required=True)
    state = StringField(default="running", choices=("running", "done", "failed"))
    progress = IntField(default=0)
    total = IntField(default=0)
    report = DictField()
    error = StringField()
    created_at = DateTimeField()
    finished_at = DateTimeField()
    meta = {"collection": "migration_jobs", "indexes": [("study", "-created_at")]}


def start_migration(context: Callable[[], ContextManager], study: StudyRuntime, user, to_version: str, *,
                    reason: str, site: str | None = None, subject: str | None = None,
                    dry_run: bool = False) -> MigrationJob:
    """Record a job and run the migration (or its dry run) on a background thread; returns at once.

    Everything the migration would refuse is refused here first, so a job that starts does not fail on its input.
    :raise 403: unless a data manager; 404 ``/to``: the version is not loaded, ``/subject``: no such subject
      (at ``site``, if given); 400 ``/site``: unknown site; 422 ``/reason``: empty or unstorable.
    """
    require(user, Action.AMEND_STUDY)
    find_version(study.oid, to_version, pointer="/to")
    reason = migration_reason(reason)
    if site:
        get_site(site)
    covered = subjects_to_migrate(study.oid, site or None, subject or None)
    if subject and not covered:
        raise NotFound(f"no subject {subject!r}" + (f" at site {site}" if site else ""),
                       [FieldError("/subject", "unknown subject" + (" at that site" if site else ""))])
    job = MigrationJob(job_id=str(ObjectId()), study=study.oid, to_version=to_version, site=site or None,
                       subject=subject or None, reason=reason, dry_run=dry_run, requested_by=user.username,
                       total=len(covered), created_at=utc_now())
    job.save(force_insert=True)
    run_in_background(f"migrate-{job.job_id}", _run, context, job.job_id)
    return job


def _run(context: Callable[[], ContextManager], job_id: str) -> None:
    with context():
        job = MigrationJob.objects(job_id=job_id).first()
        done = [0]

        def progress(step: int) -> None:
            done[0] += step
            MigrationJob.objects(job_id=job_id).update(set__progress=done[0])

        try:
            user = User.objects(username=job.requested_by).first()
            report = migrate(study_runtime(job.study), user, job.to_version, reason=job.reason, site=job.site,
                             subject_id=job.subject, dry_run=job.dry_run, progress=progress)
            finished(MigrationJob, job_id, report=report.as_dict(), progress=done[0])
        except Exception as error:  # the page shows the failure; the log keeps the detail
            failed(MigrationJob, job_id, error, "migration")


def get_migration(study: StudyRuntime, user, job_id: str) -> MigrationJob:
    """One of the study's migration jobs; 404 for an unknown id (403 for a role that may not migrate)."""
    return job_of(MigrationJob, study, user, job_id, Action.AMEND_STUDY, "migration")


def recent_migrations(study: StudyRuntime, user, limit: int = 10) -> list[MigrationJob]:
    """The study's recent migration jobs, newest first."""
    return recent(MigrationJob, study, user, Action.AMEND_STUDY, limit)
