"""Imports run in the background for the API and the web page: a job record, the uploaded file kept, a summary.

The caller (a view) hands over the folder that keeps uploads and a factory of the context a
background thread runs in (the app's), so this module knows nothing of Flask. A dry run's job
can be confirmed: the same file, with the same options, is then imported for real.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path

from bson import ObjectId
from mongoengine import BooleanField, DateTimeField, DictField, Document, IntField, StringField

from audit import utc_now
from ecrf.data_import.batch import Refusal, run_batch
from ecrf.data_import.catalogue import Catalogue
from ecrf.data_import.csv_file import Options, read_table
from ecrf.data_import.mapping import read_map
from ecrf.data_import.odm_file import read_clinical_data
from ecrf.errors import FieldError, Invalid, NotFound
from ecrf.job_runs import failed, finished, job_of, recent, run_in_background
from ecrf.roles import Action, require
from ecrf.studies import StudyRuntime, study_runtime
from ecrf.text import check_text
from ecrf.users import User

KINDS = ("odm", "csv")
OPTION_NAMES = ("form", "event", "event_column", "subject_column", "site_column")
KEPT_ROWS = 5000  # rows and refusals a job keeps for the page and the API (the summary counts them all)
PROGRESS_EVERY = 25


class ImportJob(Document):
    job_id = StringField(primary_key=True)
    study = StringField(required=True)
    kind = StringField(required=True, choices=KINDS)
    file_name = StringField(required=True)
    options = DictField()
    has_map = BooleanField(default=False)
    dry_run = BooleanField(default=False)
    all_or_nothing = BooleanField(default=False)
    requested_by = StringField(required=True)
    state = StringField(default="running", choices=("running", "done", "failed"))
    progress = IntField(default=0)
    summary = DictField()
    error = StringField()
    confirms = StringField()  # the dry run this import confirms
    created_at = DateTimeField()
    finished_at = DateTimeField()
    meta = {"collection": "import_jobs", "indexes": [("study", "-created_at")]}

    def folder(self, root: Path) -> Path:
        return root / (self.confirms or self.job_id)

    def refusals(self) -> list[Refusal]:
        """The refused rows the job kept."""
        return [Refusal(**entry) for entry in (self.summary or {}).get("refusals") or []]


def safe_name(name: str | None) -> str:
    """An uploaded file's name as it may be shown and stored: its last part, plain characters only."""
    base = re.split(r"[\\/]", name or "")[-1]
    return re.sub(r"[^A-Za-z0-9._()+-]", "_", base)[:120].lstrip(".") or "upload"


def _options(kind: str, study: StudyRuntime, options: dict) -> dict:
    """The reading options, checked: a CSV file names a known form and exactly one of event and event column."""
    if kind not in KINDS:
        raise Invalid("unknown import kind", [FieldError("/kind", "one of odm, csv")])
    chosen = {}
    for name in OPTION_NAMES:
        value = options.get(name)
        check_text(value, f"/{name}", max_length=120, label=name.replace("_", " ").title())
        if isinstance(value, str) and value.strip():
            chosen[name] = value.strip()
    if kind == "csv":
        if "form" not in chosen or chosen["form"] not in study.forms:
            raise Invalid("a CSV import names the study's form", [FieldError("/form", "one of the study's forms")])
        if ("event" in chosen) == ("event_column" in chosen):
            raise Invalid("name the event or the event column",
                          [FieldError("/event", "give exactly one of event and event_column")])
        if "event" in chosen and not any(e["oid"] == chosen["event"] for e in study.events):
            raise Invalid("unknown event", [FieldError("/event", "one of the study's events")])
    return chosen


def start_import(root: Path, context: Callable[[], ContextManager], study: StudyRuntime, user, kind: str,
                 file_name: str | None, content: bytes, options: dict, *, map_content: bytes | None = None,
                 dry_run: bool = False, all_or_nothing: bool = False) -> ImportJob:
    """Keep the upload, record a job and run the import on a background thread; returns at once.

    :raise 403: unless the user may import; :raise 422: naming the option that is wrong.
    """
    require(user, Action.IMPORT_DATA)
    chosen = _options(kind, study, options)
    if not content:
        raise Invalid("the file is empty", [FieldError("/file", "an ODM or CSV file is required")])
    job = ImportJob(job_id=str(ObjectId()), study=study.oid, kind=kind, file_name=safe_name(file_name),
                    options=chosen, has_map=map_content is not None, dry_run=dry_run, all_or_nothing=all_or_nothing,
                    requested_by=user.username, created_at=utc_now())
    folder = job.folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / job.file_name).write_bytes(content)
    if map_content is not None:
        (folder / "map.yaml").write_bytes(map_content)
    job.save(force_insert=True)
    _launch(root, context, job)
    return job


def confirm_import(root: Path, context: Callable[[], ContextManager], study: StudyRuntime, user,
                   job_id: str) -> ImportJob:
    """Import for real the file of a finished dry run (same options); 404 unless it is one of the study's."""
    require(user, Action.IMPORT_DATA)
    dry = get_job(study, user, job_id)
    if not dry.dry_run or dry.state != "done":
        raise NotFound(f"no finished dry run {job_id!r}")
    job = ImportJob(job_id=str(ObjectId()), study=study.oid, kind=dry.kind, file_name=dry.file_name,
                    options=dry.options, has_map=dry.has_map, dry_run=False, all_or_nothing=dry.all_or_nothing,
                    requested_by=user.username, confirms=dry.job_id, created_at=utc_now()).save(force_insert=True)
    _launch(root, context, job)
    return job


def _launch(root: Path, context: Callable[[], ContextManager], job: ImportJob) -> None:
    run_in_background(f"import-{job.job_id}", _run, root, context, job.job_id)


def read_submissions(job: ImportJob, folder: Path, study: StudyRuntime) -> list:
    """The job's file read into submissions (:class:`~ecrf.data_import.submission.UnreadableFile` if it cannot be)."""
    catalogue, path = Catalogue(study, casebooks=True), folder / job.file_name
    if job.kind == "odm":
        return read_clinical_data(path, catalogue, job.file_name)
    options = Options(**{name: job.options.get(name) for name in OPTION_NAMES if name != "form"},
                      form=job.options["form"])
    return read_table(path, catalogue, options, read_map(folder / "map.yaml" if job.has_map else None), job.file_name)


def _run(root: Path, context: Callable[[], ContextManager], job_id: str) -> None:
    with context():
        job = ImportJob.objects(job_id=job_id).first()
        done = [0]

        def progress(step: int) -> None:
            done[0] += step
            if done[0] % PROGRESS_EVERY == 0:
                ImportJob.objects(job_id=job_id).update(set__progress=done[0])

        try:
            study = study_runtime(job.study)
            user = User.objects(username=job.requested_by).first()
            submissions = read_submissions(job, job.folder(root), study)
            summary = run_batch(study, user, submissions, job.file_name, dry_run=job.dry_run,
                                all_or_nothing=job.all_or_nothing, progress=progress)
            finished(ImportJob, job_id, summary=summary.as_dict(KEPT_ROWS), progress=done[0])
        except Exception as error:  # a refusal of the whole file names its line; anything else is logged
            failed(ImportJob, job_id, error, "import")


def get_job(study: StudyRuntime, user, job_id: str) -> ImportJob:
    """One of the study's import jobs; 404 for an unknown id (403 for a role that may not import)."""
    return job_of(ImportJob, study, user, job_id, Action.IMPORT_DATA, "import")


def recent_jobs(study: StudyRuntime, user, limit: int = 20) -> list[ImportJob]:
    """The study's recent import jobs, newest first."""
    return recent(ImportJob, study, user, Action.IMPORT_DATA, limit)
