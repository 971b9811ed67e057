"""Data-management pages: site reference ranges and edit checks that failed to evaluate."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Optional

from ecrf import ranges as service
from ecrf.errors import DomainError, Locked
from ecrf.i18n import translate
from ecrf.records.broken import broken_checks
from ecrf.roles import Action, require
from ecrf.scope import page_scope
from ecrf.sites import Site
from ecrf.views.messages import flash_error

bp = Blueprint("ranges", __name__)
bp.url_value_preprocessor(page_scope)


class RangeForm(FlaskForm):
    site = SelectField("Site", validators=[DataRequired()])
    analyte = StringField("Analyte", validators=[DataRequired()])
    unit = StringField("Unit", validators=[DataRequired()])
    low = DecimalField("Low", places=None, validators=[Optional()])
    high = DecimalField("High", places=None, validators=[Optional()])
    sex = SelectField("Sex", choices=[("", "both"), ("M", "M"), ("F", "F")], validators=[Optional()])
    age_min = IntegerField("Age from", validators=[Optional()])
    age_max = IntegerField("Age to", validators=[Optional()])
    valid_from = DateField("Valid from", validators=[DataRequired()])


@bp.route("/studies/<study>/ranges", methods=["GET", "POST"])
@login_required
def index(study: str):
    user, runtime = g.user, g.runtime
    require(user, Action.MANAGE_RANGES)
    form = RangeForm()
    form.sex.choices = [(value, translate(label)) for value, label in form.sex.choices]
    form.site.choices = [(s.code, f"{s.code} — {s.name}") for s in Site.objects.order_by("code")]
    status = 200
    if form.validate_on_submit():
        try:
            service.add_range(
                user, form.site.data, form.analyte.data.strip().upper(), form.unit.data,
                float(form.low.data) if form.low.data is not None else None,
                float(form.high.data) if form.high.data is not None else None,
                valid_from=form.valid_from.data.isoformat(), sex=form.sex.data or None,
                age_min=form.age_min.data, age_max=form.age_max.data)
        except DomainError as error:
            flash_error(error, form=form)
            status = error.status
        else:
            flash("Range added", "success")
            return redirect(url_for("ranges.index", study=study))
    elif request.method == "POST":
        status = 422
    defaults = runtime.definition.get("lab_ranges", [])
    return render_template("ranges.html", study=runtime, form=form, ranges=service.list_ranges(),
                           defaults=defaults), status


@bp.post("/studies/<study>/ranges/<range_id>/retire")
@login_required
def retire(study: str, range_id: str):
    if FlaskForm().validate_on_submit():
        try:
            service.retire_range(g.user, range_id)
        except Locked:
            raise  # a lock is answered 423 with its own page, as the API answers it
        except DomainError as error:
            flash(error.detail, "error")
    return redirect(url_for("ranges.index", study=study))


@bp.get("/studies/<study>/checks/broken")
@login_required
def broken(study: str):
    require(g.user, Action.MANAGE_QUERIES)
    return render_template("broken_checks.html", study=g.runtime, broken=broken_checks(g.runtime))
