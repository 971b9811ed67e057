"""Subject pages: the list (status, open queries, progress), registration, and each subject's form × event grid."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Optional

from ecrf.errors import DomainError
from ecrf.locks import container_state, study_closure
from ecrf.progress import LIFECYCLE, form_grid, status_matrix, subjects_progress
from ecrf.readiness import casebook_obstacles
from ecrf.roles import Action, may
from ecrf.scope import page_scope
from ecrf.signatures import signatures_of
from ecrf.sites import Site, site_timezone
from ecrf.studies import loaded_studies
from ecrf.subjects import get_subject, list_subjects, register_subject

bp = Blueprint("subjects", __name__)
bp.url_value_preprocessor(page_scope)


class RegisterForm(FlaskForm):
    site = SelectField("Site")
    subject_id = StringField("Subject ID (optional)", validators=[Optional()])


@bp.get("/")
@login_required
def home():
    studies = loaded_studies()
    if len(studies) == 1 and may(g.user.role, Action.VIEW_DATA):
        return redirect(url_for("subjects.index", study=studies[0].oid))
    if may(g.user.role, Action.ADMINISTER):
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
    user, runtime = g.user, g.runtime
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
                           progress=subjects_progress(runtime, subjects),
                           may_register=may(user.role, Action.REGISTER_SUBJECT), closed=study_closure(runtime.oid)), \
        (error.status if error else 200)


@bp.get("/studies/<study>/subjects/<subject>")
@login_required
def detail(study: str, subject: str):
    found = get_subject(g.runtime, g.user, subject)
    matrix = status_matrix(g.runtime, found)
    return render_template("subject.html", study=g.runtime, subject=found, matrix=matrix,
                           grid=form_grid(g.runtime, matrix), states=LIFECYCLE,
                           signatures=signatures_of(g.runtime, g.user, subject), tz=site_timezone(found.site),
                           casebook=casebook_obstacles(g.runtime, g.user, found.subject_id),
                           casebook_closed=container_state(g.runtime.oid, found.subject_id))
