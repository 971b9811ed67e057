"""Administration page (admins only): studies and sites; users have their own pages (ecrf/views/users.py)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired

from ecrf.errors import DomainError
from ecrf.roles import Action, require
from ecrf.scope import page_scope
from ecrf.sites import Site, add_site
from ecrf.studies import loaded_studies
from ecrf.users import User
from ecrf.views.messages import flash_error

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.url_value_preprocessor(page_scope)


class SiteForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired()])
    name = StringField("Name", validators=[DataRequired()])
    timezone = StringField("Time zone", default="Asia/Shanghai", validators=[DataRequired()])


def _page(site_form=None, status=200):
    return render_template("admin.html", site_form=site_form or SiteForm(prefix="site"),
                           sites=Site.objects.order_by("code"), user_count=User.objects.count(),
                           studies=loaded_studies()), status


@bp.get("/")
@login_required
def index():
    require(g.user, Action.ADMINISTER)
    return _page()


@bp.post("/sites")
@login_required
def sites():
    require(g.user, Action.ADMINISTER)
    form = SiteForm(prefix="site")
    if not form.validate_on_submit():
        return _page(site_form=form, status=422)
    try:
        add_site(form.code.data.strip(), form.name.data, form.timezone.data.strip(), actor=g.user.username)
    except DomainError as error:
        flash_error(error, form=form)
        return _page(site_form=form, status=error.status)
    flash("Site added", "success")
    return redirect(url_for("admin.index"))
