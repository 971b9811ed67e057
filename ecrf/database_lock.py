"""The study's freeze and lock (the database lock) run in the background for the data manager's page, with progress.

The obstacles are listed and answered before the job starts (:mod:`ecrf.readiness`): a job only starts once
nothing stands against it or a reason to proceed anyway was given, and that reason goes into every lock event.
The caller (a view) hands over a factory of the context the background thread runs in (the app's), so this
module knows nothing of Flask, as imports do.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from typing import Any

from bson import ObjectId
from mongoengine import BooleanField, DateTimeField, DictField, Document, IntField, StringField

from audit import utc_now
from ecrf.errors import FieldError, Invalid
from ecrf.job_runs import failed, finished, job_of, recent, run_in_background
from ecrf.lifecycle import set_lock
from ecrf.readiness import obstacles, override
from ecrf.records.document import Record
from ecrf.roles import Action, require
from ecrf.studies import StudyRuntime, study_runtime
from ecrf.text import MAX_REASON, check_text
from ecrf.users import User

# What the page offers: (kind, on) of each step, as set_lock takes them.
STEPS = {"freeze": ("frozen", True), "unfreeze": ("frozen", False), "lock": ("locked", True),
         "unlock": ("locked", False)}


class DatabaseLockJob(Document):
    """One freeze, lock, unfreeze or unlock of a whole study, as it runs and as it ended."""

    job_id = StringField(primary_key=True)
    study = StringField(required=True)
    step = StringField(required=True, choices=tuple(STEPS))
    requested_by = StringField(required=True)
    state = StringField(default="running", choices=("running", "done", "failed"))
    progress = IntField(default=0)
    total = IntField(default=0)
    changed = IntField()
    overridden = BooleanField(default=False)
    override = DictField()
    error = StringField()
    created_at = DateTimeField()
    finished_at = DateTimeField()
    meta = {"collection": "database_lock_jobs", "indexes": [("study", "-created_at")]}

    @property
    def percent(self) -> int:
        """How far the job is, 0 to 100."""
        return 100 if self.state == "done" or not self.total else min(100, self.progress * 100 // self.total)


def start_database_lock(context: Callable[[], ContextManager], study: StudyRuntime, user, step: str,
                        reason: Any = None, override_reason: Any = None) -> DatabaseLockJob:
    """Answer the step's obstacles, record a job and run it on a background thread; returns at once.

    :raise 403: unless the user may lock; :raise 409: obstacles and no ``override_reason`` (nothing starts);
    :raise 422: an unknown step, or unlocking without a reason.
    """
    require(user, Action.LOCK)
    if step not in STEPS:
        raise Invalid("unknown step", [FieldError("/step", f"one of {', '.join(STEPS)}")])
    kind, on = STEPS[step]
    if step == "unlock" and (not isinstance(reason, str) or not reason.strip()):
        raise Invalid("a reason is required to unlock", [FieldError("/reason", "required")])
    check_text(reason, "/reason", multiline=True, max_length=MAX_REASON, label="Reason")
    kept = override(step, obstacles(study, user, step), override_reason) if on else None
    job = DatabaseLockJob(job_id=str(ObjectId()), study=study.oid, step=step, requested_by=user.username,
                          total=Record.objects(study=study.oid).count(), overridden=kept is not None,
                          override=kept or {}, created_at=utc_now()).save(force_insert=True)
    run_in_background(f"database-lock-{job.job_id}", _run, context, job.job_id, reason, kept)
    return job


def _run(context: Callable[[], ContextManager], job_id: str, reason: Any, kept: dict | None) -> None:
    with context():
        job = DatabaseLockJob.objects(job_id=job_id).first()
        try:
            kind, on = STEPS[job.step]
            changed = set_lock(study_runtime(job.study), User.objects(username=job.requested_by).first(), kind, on,
                               reason=reason, override=kept,
                               progress=lambda n: DatabaseLockJob.objects(job_id=job_id).update(inc__progress=n))
            finished(DatabaseLockJob, job_id, changed=changed)
        except Exception as error:  # the page shows the failure; the log keeps the detail
            failed(DatabaseLockJob, job_id, error, "database lock")


def get_job(study: StudyRuntime, user, job_id: str) -> DatabaseLockJob:
    """One of the study's freeze or lock jobs; 404 for an unknown id (403 for a role that may not lock)."""
    return job_of(DatabaseLockJob, study, user, job_id, Action.LOCK, "freeze or lock job")


def recent_jobs(study: StudyRuntime, user, limit: int = 10) -> list[DatabaseLockJob]:
    """The study's recent freeze and lock jobs, newest first."""
    return recent(DatabaseLockJob, study, user, Action.LOCK, limit)
