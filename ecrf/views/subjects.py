"""Subject pages: the list, registration, and each subject's event × form matrix."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Optional

from ecrf.auth import web_user
from ecrf.errors import DomainError
from ecrf.lifecycle import signatures_of
from ecrf.locks import study_closure
from ecrf.progress import status_matrix
from ecrf.roles import Action, may
from ecrf.sites import Site, site_timezone
from ecrf.studies import loaded_studies, study_runtime
from ecrf.subjects import get_subject, list_subjects, register_subject

bp = Blueprint("subjects", __name__)


class RegisterForm(FlaskForm):
    site = SelectField("Site")
    subject_id = StringField("Subject ID (optional)", validators=[Optional()])


@bp.get("/")
@login_required
def home():
    studies = loaded_studies()
    user = web_user()
    if len(studies) == 1 and may(user.role, Action.VIEW_DATA):
        return redirect(url_for("subjects.index", study=studies[0].oid))
    if may(user.role, Action.ADMINISTER):
        return redirect(url_for("admin.index"))
    return render_template("home.html", studies=studies)


def _register_form(user) -> RegisterForm:
    form = RegisterForm()
    sites = Site.objects(code__in=user.sites) if not user.all_sites else Site.objects
    form.site.choices = [(s.code, f"{s.code} — {s.name}") for s in sites.order_by("code")]
    return form


@bp.route("/studies/<study>/subjects", methods=["GET", "POST"])
@login_required
def index(study: str):
    user = web_user()
    runtime = study_runtime(study)
    form = _register_form(user)
    error = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            subject = register_subject(runtime, user, form.site.data, form.subject_id.data or None)
        except DomainError as exc:
            error = exc
        else:
            flash(f"Subject {subject.subject_id} registered", "success")
            return redirect(url_for("subjects.detail", study=study, subject=subject.subject_id))
    subjects = list_subjects(runtime, user, request.args.get("site") or None)
    return render_template("subjects.html", study=runtime, subjects=subjects, form=form, error=error,
                           may_register=may(user.role, Action.REGISTER_SUBJECT), closed=study_closure(runtime.oid)), \
        (error.status if error else 200)


@bp.get("/studies/<study>/subjects/<subject>")
@login_required
def detail(study: str, subject: str):
    user = web_user()
    runtime = study_runtime(study)
    found = get_subject(runtime, user, subject)
    return render_template("subject.html", study=runtime, subject=found, matrix=status_matrix(runtime, found),
                           signatures=signatures_of(runtime, user, subject), tz=site_timezone(found.site))
