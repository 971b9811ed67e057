"""Administration pages (admins only): sites and users; studies are loaded with the CLI."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Optional

from audit import utc_now
from ecrf.errors import DomainError
from ecrf.i18n import translate
from ecrf.roles import ROLES, Action, require
from ecrf.scope import page_scope
from ecrf.sites import Site, add_site
from ecrf.studies import loaded_studies
from ecrf.users import User, add_user, change_role, end_sessions, issue_token, set_active, unlock
from ecrf.views.messages import flash_error

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.url_value_preprocessor(page_scope)


class SiteForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired()])
    name = StringField("Name", validators=[DataRequired()])
    timezone = StringField("Time zone", default="Asia/Shanghai", validators=[DataRequired()])


class UserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    full_name = StringField("Printed name", validators=[Optional()])
    role = SelectField("Role", choices=[(r, r) for r in ROLES])
    sites = SelectMultipleField("Sites", validators=[Optional()])
    password = PasswordField("Initial password", validators=[DataRequired()])


class RoleForm(FlaskForm):
    username = SelectField("User")
    role = SelectField("Role", choices=[(r, r) for r in ROLES])
    sites = SelectMultipleField("Sites", validators=[Optional()])


def _role_form(form: RoleForm | None = None) -> RoleForm:
    """The role form with today's users and sites to choose from."""
    form = form or RoleForm(prefix="role")
    form.username.choices = [(u.username, u.username) for u in User.objects.order_by("username").only("username")]
    form.sites.choices = [(s.code, f"{s.code} — {s.name}") for s in Site.objects.order_by("code")]
    form.role.choices = [(role, translate(role)) for role in ROLES]
    return form


def _locked_users() -> set[str]:
    """Usernames locked out after repeated failed logins, right now."""
    return {u.username for u in User.objects(locked_until__gt=utc_now()).only("username")}


def _page(site_form=None, user_form=None, token=None, status=200, role_form=None):
    site_form = site_form or SiteForm(prefix="site")
    user_form = user_form or UserForm(prefix="user")
    user_form.sites.choices = [(s.code, f"{s.code} — {s.name}") for s in Site.objects.order_by("code")]
    user_form.role.choices = [(role, translate(role)) for role in ROLES]
    return render_template("admin.html", site_form=site_form, user_form=user_form, token=token,
                           role_form=_role_form(role_form), locked=_locked_users(),
                           sites=Site.objects.order_by("code"), users=User.objects.order_by("username"),
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
        flash_error(error)
        return _page(site_form=form, status=error.status)
    flash("Site added", "success")
    return redirect(url_for("admin.index"))


@bp.post("/users")
@login_required
def users():
    require(g.user, Action.ADMINISTER)
    form = UserForm(prefix="user")
    form.sites.choices = [(s.code, s.code) for s in Site.objects]
    if not form.validate_on_submit():
        return _page(user_form=form, status=422)
    try:
        add_user(form.username.data.strip(), form.role.data, form.sites.data, form.password.data,
                 full_name=form.full_name.data or "", actor=g.user.username,
                 min_password_length=current_app.config["ECRF"].password_min_length)
    except DomainError as error:
        flash_error(error)
        return _page(user_form=form, status=error.status)
    flash("User added", "success")
    return redirect(url_for("admin.index"))


@bp.post("/roles")
@login_required
def roles():
    """Give a user another role and sites; every session of that user ends."""
    require(g.user, Action.ADMINISTER)
    form = _role_form(RoleForm(prefix="role"))
    if not form.validate_on_submit():
        return _page(role_form=form, status=422)
    try:
        change_role(form.username.data, form.role.data, form.sites.data, actor=g.user.username)
    except DomainError as error:
        flash_error(error)
        return _page(role_form=form, status=error.status)
    flash(f"Role of {form.username.data} changed; their sessions have ended", "success")
    return redirect(url_for("admin.index"))


@bp.post("/users/<username>/<action>")
@login_required
def user_action(username: str, action: str):
    require(g.user, Action.ADMINISTER)
    if not FlaskForm().validate_on_submit() or action not in ("disable", "enable", "token", "sign-out", "unlock"):
        flash("The form expired; try again.", "error")
        return redirect(url_for("admin.index"))
    try:
        if action == "token":
            return _page(token=(username, issue_token(username, actor=g.user.username)))
        if action == "sign-out":
            end_sessions(username, actor=g.user.username)
            flash(f"Every session of {username} has ended", "success")
        elif action == "unlock":
            unlock(username, actor=g.user.username)
        else:
            set_active(username, action == "enable", actor=g.user.username)
    except DomainError as error:
        flash(error.detail, "error")
    return redirect(url_for("admin.index"))
