"""API for protocol amendments: loaded versions and their activation per site, migrations as jobs to poll."""

from __future__ import annotations

from flask import current_app, g, jsonify, url_for

from ecrf.amendment_jobs import get_migration, start_migration
from ecrf.api import schemas
from ecrf.api.blueprint import api, json_body
from ecrf.api.fields.amendments import activation_json, migration_json, version_json
from ecrf.roles import Action, require
from ecrf.study_versions import activate, activations, loaded_versions


@api.get("/studies/<study>/versions")
def study_versions(study: str):
    """The loaded versions (oldest first) and each site's version with its ethics approval date."""
    require(g.user, Action.AMEND_STUDY)
    oid = g.runtime.oid
    return jsonify({"study": oid, "current": g.runtime.version,
                    "versions": [version_json(v) for v in loaded_versions(oid)],
                    "sites": [activation_json(a) for a in activations(oid)]})


@api.post("/studies/<study>/versions/<version>/activate")
def activate_study_version(study: str, version: str):
    """Activate a loaded version at a site from its ethics approval date on; the site's version as it now is."""
    user, runtime = g.user, g.runtime
    require(user, Action.AMEND_STUDY)
    body = schemas.load(schemas.ActivateRequest(), json_body())
    done = activate(runtime.oid, version, body["site"], body["approved"], actor=user.username)
    return jsonify(activation_json({"site": done.site, "version": done.version,
                                    "definition_hash": done.definition_hash, "approved": done.approved,
                                    "carried": bool(done.carried), "activated_at": done.activated_at,
                                    "activated_by": done.activated_by}))


@api.post("/studies/<study>/migrations")
def start_study_migration(study: str):
    """Start a migration (or its dry run) of casebooks to a version; 202 with the job to poll."""
    user, runtime = g.user, g.runtime
    require(user, Action.AMEND_STUDY)
    body = schemas.load(schemas.MigrationRequest(), json_body())
    reason = body["reason"] or ("dry run" if body["dry_run"] else "")
    job = start_migration(current_app._get_current_object().app_context, runtime, user, body["to"], reason=reason,
                          site=body["site"], subject=body["subject"], dry_run=body["dry_run"])
    location = url_for("api.study_migration", study=runtime.oid, job_id=job.job_id)
    return jsonify(migration_json(job)), 202, {"Location": location}


@api.get("/studies/<study>/migrations/<job_id>")
def study_migration(study: str, job_id: str):
    """One migration job: state, progress and, once done, its report per subject and record."""
    return jsonify(migration_json(get_migration(g.runtime, g.user, job_id)))
