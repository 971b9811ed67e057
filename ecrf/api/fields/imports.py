"""An import job as the API shows it."""

from __future__ import annotations

from ecrf.data_import.jobs import ImportJob
from ecrf.times import iso


def job_json(job: ImportJob) -> dict:
    """An import job as the API shows it."""
    summary = job.summary or {}
    counts = {k: summary[k] for k in ("created", "updated", "unchanged", "refused", "queries", "registered",
                                      "written")} if summary else None
    return {"id": job.job_id, "study": job.study, "kind": job.kind, "file": job.file_name, "state": job.state,
            "dry_run": job.dry_run, "all_or_nothing": job.all_or_nothing, "requested_by": job.requested_by,
            "confirms": job.confirms, "progress": job.progress, "error": job.error,
            "created_at": iso(job.created_at), "finished_at": iso(job.finished_at), "counts": counts,
            "rows": summary.get("rows") or [], "refusals": summary.get("refusals") or []}
