"""User administration pages (admins only): the user list with the create form, and one page per user with
its role and sites, status, password reset, tokens and sessions. Every change names its reason and is audited."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Length, Optional

from audit import utc_now
from ecrf import users as accounts
from ecrf.access_review import account_status
from ecrf.errors import DomainError
from ecrf.i18n import N_
from ecrf.roles import ROLES, Action, require
from ecrf.scope import page_scope
from ecrf.sites import Site
from ecrf.users import User, find_user
from ecrf.views.messages import flash_error

bp = Blueprint("users", __name__, url_prefix="/admin/users")
bp.url_value_preprocessor(page_scope)

REASON_MAX = 2000
# Actions whose reason may not be left out: what an auditor asks "why?" about.
REASON_REQUIRED = frozenset({"role", "disable", "enable", "reset-password"})
# What the page says once an action is done.
DONE = {
    "role": N_("Role and sites changed; the user's sessions have ended"),
    "disable": N_("User disabled; their sessions have ended and their tokens are revoked"),
    "enable": N_("User enabled"),
    "unlock": N_("User unlocked"),
    "revoke-tokens": N_("Every API token of the user is revoked"),
    "sign-out": N_("Every session of the user has ended"),
}
# The account actions of a user's page: title and what it does, in the order shown.
ACCOUNT_ACTIONS = {
    "reset-password": (N_("Reset password"),
                       N_("A one-time password is shown once; the user must change it at next sign-in.")),
    "disable": (N_("Disable"), N_("Ends their sessions and revokes their tokens; the user is kept, never deleted.")),
    "enable": (N_("Enable"), N_("Signing in works again.")),
    "unlock": (N_("Unlock"), N_("Ends the lockout after repeated failed sign-ins.")),
    "sign-out": (N_("Sign out everywhere"), N_("Ends every browser session of the user.")),
    "revoke-tokens": (N_("Revoke API tokens"), N_("Every live API token stops working.")),
    "token": (N_("Issue API token"), N_("A new token for scripts, shown once.")),
}
ONE_TIME_PASSWORD, API_TOKEN = N_("one-time password"), N_("API token")


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of checkboxes (each labelled, usable at any width)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class NewUserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    full_name = StringField("Printed name", validators=[Optional()])
    role = SelectField("Role", choices=[(r, r) for r in ROLES])
    sites = CheckboxesField("Sites", validators=[Optional()])
    password = PasswordField("Initial password (leave empty for a one-time password)", validators=[Optional()])
    reason = StringField("Reason", validators=[Optional(), Length(max=REASON_MAX)])


class ActionForm(FlaskForm):
    reason = StringField("Reason", validators=[Optional(), Length(max=REASON_MAX)])


class RoleForm(ActionForm):
    role = SelectField("Role", choices=[(r, r) for r in ROLES])
    sites = CheckboxesField("Sites", validators=[Optional()])


def _site_choices() -> list[tuple[str, str]]:
    return [(s.code, f"{s.code} — {s.name}") for s in Site.objects.order_by("code")]


def _list_page(form: NewUserForm | None = None, status: int = 200):
    form = form or NewUserForm(prefix="user")
    form.sites.choices = _site_choices()
    now = utc_now()
    users = [(u, account_status(u, now)) for u in User.objects.order_by("username")]
    return render_template("users.html", form=form, users=users), status


def _account_actions(user: User, status: str) -> list[tuple[str, str, str]]:
    """``(action, title, what it does)`` of the actions that apply to the user as they stand."""
    skip = {"enable" if user.active else "disable", *(() if status == "locked" else ("unlock",))}
    return [(action, *words) for action, words in ACCOUNT_ACTIONS.items() if action not in skip]


def _user_page(username: str, role_form: RoleForm | None = None, secret: tuple[str, str] | None = None,
               status: int = 200):
    user = find_user(username)
    if role_form is None:
        # Filled from the user as stored, never from the request (a create or reset posts other fields).
        role_form = RoleForm(formdata=None, prefix="role", role=user.role, sites=list(user.sites or []))
    role_form.sites.choices = _site_choices()
    status_now = account_status(user, utc_now())
    return render_template("user.html", user=user, status=status_now, role_form=role_form, secret=secret,
                           actions=_account_actions(user, status_now), tokens=accounts.live_tokens(username),
                           reason_required=REASON_REQUIRED, one_time=ONE_TIME_PASSWORD), status


@bp.route("", methods=["GET", "POST"])
@login_required
def index():
    """The users with role, sites, status and last sign-in; a POST creates one (a one-time password is shown
    when no initial password is given)."""
    require(g.user, Action.ADMINISTER)
    form = NewUserForm(prefix="user")
    form.sites.choices = _site_choices()
    if not form.is_submitted():
        return _list_page(form)
    if not form.validate():
        return _list_page(form, 422)
    settings = current_app.config["ECRF"]
    username = form.username.data.strip()
    details = {"full_name": form.full_name.data or "", "actor": g.user.username, "reason": form.reason.data or None,
               "min_password_length": settings.password_min_length}
    try:
        if not form.password.data:
            password = accounts.add_user_with_one_time_password(username, form.role.data, form.sites.data, **details)
            return _user_page(username, secret=(ONE_TIME_PASSWORD, password))
        accounts.add_user(username, form.role.data, form.sites.data, form.password.data, **details)
    except DomainError as error:
        flash_error(error)
        return _list_page(form, error.status)
    flash("User added", "success")
    return redirect(url_for("users.detail", username=username))


@bp.get("/<username>")
@login_required
def detail(username: str):
    """One user: role and sites, status, tokens; the forms of every administrator action."""
    require(g.user, Action.ADMINISTER)
    return _user_page(username)


@bp.post("/<username>/<action>")
@login_required
def act(username: str, action: str):
    """One administrator action on the user, with its reason; each answers with the user's page."""
    require(g.user, Action.ADMINISTER)
    find_user(username)
    form = RoleForm(prefix="role") if action == "role" else ActionForm()
    if action == "role":
        form.sites.choices = _site_choices()
    if action not in (*DONE, "reset-password", "token") or not form.validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("users.detail", username=username))
    reason = (form.reason.data or "").strip() or None
    if action in REASON_REQUIRED and not reason:
        form.reason.errors = [N_("Give a reason")]
        flash("Give a reason", "error")
        return _user_page(username, form if action == "role" else None, status=422)
    actor = g.user.username
    try:
        if action == "token":
            return _user_page(username, secret=(API_TOKEN, accounts.issue_token(username, actor=actor, reason=reason)))
        if action == "reset-password":
            password = accounts.reset_password(username, actor=actor, reason=reason,
                                      min_length=current_app.config["ECRF"].password_min_length)
            return _user_page(username, secret=(ONE_TIME_PASSWORD, password))
        _change(username, action, form, actor, reason)
    except DomainError as error:
        flash_error(error)
        return _user_page(username, form if action == "role" else None, status=error.status)
    flash(DONE[action], "success")
    return redirect(url_for("users.detail", username=username))


def _change(username: str, action: str, form: FlaskForm, actor: str, reason: str | None) -> None:
    """The service call behind one action of :data:`DONE`."""
    if action == "role":
        accounts.change_role(username, form.role.data, form.sites.data, actor=actor, reason=reason)
    elif action in ("disable", "enable"):
        accounts.set_active(username, action == "enable", actor=actor, reason=reason)
    elif action == "unlock":
        accounts.unlock(username, actor=actor, reason=reason)
    elif action == "revoke-tokens":
        accounts.revoke_tokens(username, actor=actor, reason=reason)
    else:
        accounts.end_sessions(username, actor=actor, reason=reason)
