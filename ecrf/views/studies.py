"""The data manager's study page: upload a new version, see its check and diff, activate it per site, migrate."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bson import ObjectId
from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Optional

from ecrf.amendment_jobs import get_migration, recent_migrations, start_migration
from ecrf.amendments import upload_version
from ecrf.errors import DefinitionError, DomainError
from ecrf.roles import Action, require
from ecrf.scope import page_scope
from ecrf.sites import Site
from ecrf.study_versions import activate, loaded_versions, site_versions
from ecrf.views.messages import flash_error

bp = Blueprint("studies", __name__)
bp.url_value_preprocessor(page_scope)


class UploadForm(FlaskForm):
    file = FileField("Study folder (zip)", validators=[FileRequired()])


class ActivateForm(FlaskForm):
    version = SelectField("Version", validators=[DataRequired()])
    site = SelectField("Site", validators=[DataRequired()])
    approved = DateField("Ethics approval date", validators=[DataRequired()])


class MigrateForm(FlaskForm):
    to_version = SelectField("Migrate to version", validators=[DataRequired()])
    site = SelectField("Site", validators=[Optional()])
    reason = TextAreaField("Reason (the amendment)", validators=[Optional()])
    dry_run = BooleanField("Dry run (write nothing)", default=True)


def _forms(runtime, submitted: str | None = None):
    """The page's three forms; only the ``submitted`` one ("up", "act", "mig") reads the request's fields."""
    versions = [(v.version, v.version) for v in loaded_versions(runtime.oid)]
    sites = [(s.code, f"{s.code} · {s.name}") for s in Site.objects.order_by("code")]
    upload, active, moving = (cls(prefix=prefix, **({} if prefix == submitted else {"formdata": None}))
                              for cls, prefix in ((UploadForm, "up"), (ActivateForm, "act"), (MigrateForm, "mig")))
    active.version.choices, active.site.choices = versions, sites
    moving.to_version.choices, moving.site.choices = versions, [("", "—")] + sites
    newest = versions[-1][0] if versions else None
    if submitted != "act":
        active.version.data = newest
    if submitted != "mig":
        moving.to_version.data = newest
    return upload, active, moving


def _page(runtime, user, upload=None, active=None, moving=None, checked=None, status=200):
    forms = _forms(runtime)
    return render_template(
        "study_versions.html", study=runtime, versions=loaded_versions(runtime.oid),
        sites=site_versions(runtime.oid), all_sites=Site.objects.order_by("code"),
        upload=upload or forms[0], active=active or forms[1], moving=moving or forms[2],
        jobs=recent_migrations(runtime, user), checked=checked or {}), status


@bp.get("/studies/<study>/versions")
@login_required
def index(study: str):
    """Loaded versions, each site's active version, the upload, activation and migration forms, recent migrations.

    :raise 403: unless a data manager.
    """
    require(g.user, Action.AMEND_STUDY)
    return _page(g.runtime, g.user)


@bp.post("/studies/<study>/versions/upload")
@login_required
def upload(study: str):
    """Check an uploaded study zip and load it; show its faults, or the differences from the current version."""
    user, runtime = g.user, g.runtime
    require(user, Action.AMEND_STUDY)
    form = _forms(runtime, "up")[0]
    if not form.validate_on_submit():
        return _page(runtime, user, upload=form, status=422)
    folder = Path(current_app.instance_path) / "study_uploads"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        version, differences = upload_version(runtime, user, form.file.data.read(),
                                              Path(tempfile.mkdtemp(dir=folder)) / str(ObjectId()))
    except DefinitionError as error:
        return _page(runtime, user, checked={"faults": error.faults.lines()}, status=422)
    except DomainError as error:
        flash_error(error)
        return _page(runtime, user, status=error.status)
    return _page(runtime, user, checked={"version": version, "differences": [str(d) for d in differences]})


@bp.post("/studies/<study>/versions/activate")
@login_required
def activate_version(study: str):
    """Activate a version at a site with its ethics approval date, then back to the page."""
    user, runtime = g.user, g.runtime
    require(user, Action.AMEND_STUDY)
    form = _forms(runtime, "act")[1]
    if not form.validate_on_submit():
        return _page(runtime, user, active=form, status=422)
    try:
        activate(runtime.oid, form.version.data, form.site.data, form.approved.data, actor=user.username)
    except DomainError as error:
        flash_error(error)
        return _page(runtime, user, active=form, status=error.status)
    flash("Version activated at the site.", "success")
    return redirect(url_for("studies.index", study=study))


@bp.post("/studies/<study>/versions/migrate")
@login_required
def migrate(study: str):
    """Start a migration (or its dry run) in the background and follow it on its page."""
    user, runtime = g.user, g.runtime
    form = _forms(runtime, "mig")[2]
    if not form.validate_on_submit():
        return _page(runtime, user, moving=form, status=422)
    reason = (form.reason.data or "").strip() or ("dry run" if form.dry_run.data else "")
    if not reason:
        form.reason.errors = ["A migration needs the amendment's reason."]
        return _page(runtime, user, moving=form, status=422)
    try:
        job = start_migration(current_app._get_current_object().app_context, runtime, user, form.to_version.data,
                              reason=reason, site=form.site.data or None, dry_run=form.dry_run.data)
    except DomainError as error:
        flash_error(error)
        return _page(runtime, user, moving=form, status=error.status)
    return redirect(url_for("studies.migration", study=study, job_id=job.job_id))


@bp.get("/studies/<study>/versions/migrations/<job_id>")
@login_required
def migration(study: str, job_id: str):
    """One migration: its progress while it runs, then its report per subject and record."""
    return render_template("migration_job.html", study=g.runtime, job=get_migration(g.runtime, g.user, job_id))


@bp.get("/studies/<study>/versions/migrations/<job_id>/report.json")
@login_required
def report(study: str, job_id: str):
    """The migration's report as JSON (a download)."""
    job = get_migration(g.runtime, g.user, job_id)
    return Response(json.dumps(job.report, ensure_ascii=False, indent=1, default=str), mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename=migration-{job.job_id}.json"})
