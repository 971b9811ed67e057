"""Study versions, site activations and migration jobs as the API shows them."""

from __future__ import annotations

from ecrf.amendment_jobs import MigrationJob
from ecrf.studies import Study
from ecrf.times import iso


def version_json(study: Study) -> dict:
    """A loaded version of a study: its version string, definition hash, who loaded it when, whether current."""
    return {"version": study.version, "definition_hash": study.definition_hash, "name": study.name,
            "loaded_at": iso(study.loaded_at), "loaded_by": study.loaded_by, "current": bool(study.current)}


def activation_json(activation: dict) -> dict:
    """A site's version (from :func:`ecrf.study_versions.activations` or an activation) with its approval date."""
    return {**activation, "activated_at": iso(activation.get("activated_at"))}


def migration_json(job: MigrationJob) -> dict:
    """A migration job: what it was asked, its state and progress, and its report once done (else null)."""
    return {"id": job.job_id, "study": job.study, "to": job.to_version, "site": job.site, "subject": job.subject,
            "dry_run": bool(job.dry_run), "reason": job.reason, "requested_by": job.requested_by,
            "state": job.state, "progress": job.progress, "total": job.total, "error": job.error,
            "created_at": iso(job.created_at), "finished_at": iso(job.finished_at),
            "report": job.report if job.state == "done" else None}
