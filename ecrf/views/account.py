"""Signing in and out, and the interface language."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from ecrf.auth import start_session, web_user
from ecrf.errors import DomainError, NotAuthenticated
from ecrf.i18n import LANGUAGES, translate
from ecrf.users import LOGIN_REFUSED, authenticate, change_password, end_sessions, get_user

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class LogoutForm(FlaskForm):
    pass


def safe_next(target: str | None, default: str | None = None) -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirects)."""
    if target and not urlparse(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return default or url_for("subjects.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        settings = current_app.config["ECRF"]
        try:
            user = authenticate(form.username.data, form.password.data,
                                lockout_attempts=settings.lockout_attempts,
                                lockout_minutes=settings.lockout_minutes)
        except NotAuthenticated:
            # every refusal reads the same (see login_refused_message), in the reader's language
            error = translate(LOGIN_REFUSED) % {"attempts": settings.lockout_attempts,
                                                "minutes": settings.lockout_minutes}
        else:
            start_session(user)
            return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", form=form, error=error), (401 if error else 200)


@bp.post("/logout")
@login_required
def logout():
    if LogoutForm().validate_on_submit():
        # Signing out ends every session of the user, including copies of this one's cookie.
        end_sessions(current_user.username, actor=current_user.username, action="logout")
        logout_user()
        session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def language(code: str):
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")))


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField("New password", validators=[DataRequired()])
    confirm = PasswordField("Repeat new password", validators=[DataRequired()])


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    form = PasswordForm()
    error, status = None, 200
    if form.validate_on_submit():
        settings = current_app.config["ECRF"]
        if form.new.data != form.confirm.data:
            error, status = "the new passwords differ", 422
        else:
            try:
                change_password(web_user(), form.current.data, form.new.data,
                                min_length=settings.password_min_length, history=settings.password_history)
            except DomainError as exc:
                error = "; ".join(e.message for e in exc.errors) or exc.detail
                status = exc.status
            else:
                # Every other session of the user has ended; this browser carries on in a new one.
                start_session(get_user(current_user.username))
                flash("Password changed", "success")
                return redirect(url_for("subjects.home"))
    elif request.method == "POST":
        status = 400
    return render_template("password.html", form=form, error=error,
                           min_length=current_app.config["ECRF"].password_min_length), status
