"""The exports page: start an export in the background, follow it, download it."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, send_file, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Optional

from ecrf.errors import DomainError
from ecrf.exports import FORMATS
from ecrf.exports.jobs import job_file, my_jobs, start_export
from ecrf.i18n import translate
from ecrf.scope import page_scope
from ecrf.views.messages import flash_error

bp = Blueprint("exports", __name__)
bp.url_value_preprocessor(page_scope)


class ExportForm(FlaskForm):
    kind = SelectField("Format", choices=[("odm", "CDISC ODM 1.3.2 (XML, with audit trail)"),
                                          ("csv", "CSV (zip, one file per form)"), ("xlsx", "Excel")])
    site = StringField("Site (optional)", validators=[Optional()])
    subject = StringField("Subject (optional)", validators=[Optional()])


@bp.route("/studies/<study>/exports", methods=["GET", "POST"])
@login_required
def index(study: str):
    user, runtime = g.user, g.runtime
    form = ExportForm()
    form.kind.choices = [(value, translate(label)) for value, label in form.kind.choices]
    if form.validate_on_submit():
        try:
            start_export(current_app._get_current_object(), runtime, user, form.kind.data,
                         site=(form.site.data or "").strip() or None, subject=(form.subject.data or "").strip() or None)
        except DomainError as error:
            flash_error(error, form=form)
        else:
            flash("Export started; it appears below when ready.", "success")
        return redirect(url_for("exports.index", study=study))
    jobs = my_jobs(user, runtime)
    return render_template("exports.html", study=runtime, form=form, jobs=jobs, formats=FORMATS,
                           running=any(j.state == "running" for j in jobs))


@bp.get("/studies/<study>/exports/<job_id>")
@login_required
def download(study: str, job_id: str):
    job, path = job_file(current_app._get_current_object(), g.user, job_id)
    mimetype, suffix = FORMATS[job.kind]
    return send_file(path, mimetype=mimetype, as_attachment=True,
                     download_name=f"{job.study}-{job.created_at:%Y%m%d-%H%M%S}.{suffix}")
