"""The data manager's import page: upload (a dry run first), preview, confirm, follow the job, download refusals."""

from __future__ import annotations

import io
from pathlib import Path

from flask import Blueprint, current_app, g, redirect, render_template, send_file, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Optional

from ecrf.data_import.batch import write_refusals
from ecrf.data_import.jobs import confirm_import, get_job, recent_jobs, start_import
from ecrf.errors import DomainError
from ecrf.i18n import current_language, translate
from ecrf.scope import page_scope
from ecrf.views.messages import flash_error

bp = Blueprint("imports", __name__)
bp.url_value_preprocessor(page_scope)


class ImportForm(FlaskForm):
    file = FileField("File", validators=[FileRequired()])
    kind = SelectField("Kind", choices=[("csv", "CSV (one row per subject and visit)"),
                                        ("odm", "CDISC ODM 1.3 ClinicalData (XML)")])
    form = SelectField("Form", validators=[Optional()])
    event = SelectField("Event", validators=[Optional()])
    event_column = StringField("Event column", validators=[Optional()])
    subject_column = StringField("Subject column", validators=[Optional()])
    site_column = StringField("Site column", validators=[Optional()])
    column_map = FileField("Column map (YAML or JSON)")
    all_or_nothing = BooleanField("All or nothing")


def _folder() -> Path:
    return Path(current_app.instance_path) / "imports"


def _context():
    return current_app._get_current_object().app_context


@bp.route("/studies/<study>/imports", methods=["GET", "POST"])
@login_required
def index(study: str):
    """The upload form and the study's recent imports; an upload starts a dry run and shows its preview."""
    user, runtime = g.user, g.runtime
    jobs = recent_jobs(runtime, user)
    form = ImportForm()
    lang = current_language()
    form.kind.choices = [(value, translate(label, lang)) for value, label in form.kind.choices]
    form.form.choices = [("", "—")] + [(oid, f"{oid} · {f.label(lang)}") for oid, f in runtime.forms.items()]
    form.event.choices = [("", "—")] + [(e["oid"], f"{e['oid']} · {runtime.label(e, lang)}") for e in runtime.events]
    if form.validate_on_submit():
        column_map = form.column_map.data.read() if form.column_map.data else None
        options = {"form": form.form.data, "event": form.event.data, "event_column": form.event_column.data,
                   "subject_column": form.subject_column.data, "site_column": form.site_column.data}
        try:
            job = start_import(_folder(), _context(), runtime, user, form.kind.data, form.file.data.filename,
                               form.file.data.read(), options, map_content=column_map or None, dry_run=True,
                               all_or_nothing=form.all_or_nothing.data)
        except DomainError as error:
            flash_error(error, form=form)
        else:
            return redirect(url_for("imports.job", study=study, job_id=job.job_id))
    return render_template("imports.html", study=runtime, form=form, jobs=jobs)


@bp.get("/studies/<study>/imports/<job_id>")
@login_required
def job(study: str, job_id: str):
    """One import: its state while it runs, then its preview (dry run) or its summary, rows and refusals."""
    return render_template("import_job.html", study=g.runtime, job=get_job(g.runtime, g.user, job_id))


@bp.post("/studies/<study>/imports/<job_id>/confirm")
@login_required
def confirm(study: str, job_id: str):
    """Import for real the file a dry run previewed."""
    runtime = g.runtime
    try:
        started = confirm_import(_folder(), _context(), runtime, g.user, job_id)
    except DomainError as error:
        flash_error(error)
        return redirect(url_for("imports.job", study=study, job_id=job_id))
    return redirect(url_for("imports.job", study=study, job_id=started.job_id))


@bp.get("/studies/<study>/imports/<job_id>/refused.csv")
@login_required
def refused(study: str, job_id: str):
    """The refused rows of an import, with their reasons, as CSV."""
    found = get_job(g.runtime, g.user, job_id)
    text = io.StringIO()
    write_refusals(text, found.refusals())
    return send_file(io.BytesIO(text.getvalue().encode("utf-8-sig")), mimetype="text/csv", as_attachment=True,
                     download_name=f"refused-{Path(found.file_name).stem}.csv")
