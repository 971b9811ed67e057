"""Who is calling: browser sessions (Flask-Login, CSRF) and API bearer tokens."""

from __future__ import annotations

from flask import Flask, current_app, g, request, session
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from ecrf.errors import NotAuthenticated
from ecrf.users import User, confirm_password, user_for_token

login_manager = LoginManager()
csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    """Install session login, CSRF protection on every HTML form, and the idle timeout."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    csrf.init_app(app)

    @app.before_request
    def _idle_timeout() -> None:
        session.permanent = True  # the cookie's lifetime restarts on each request: an idle timeout


@login_manager.user_loader
def _load_user(username: str) -> User | None:
    user = User.objects(username=username).first()
    return user if user is not None and user.active else None


def api_user() -> User:
    """The user named by the request's ``Authorization: Bearer`` token; 401 saying why not."""
    if "api_user" in g:
        return g.api_user
    header = request.headers.get("Authorization", "")
    if not header:
        raise NotAuthenticated("missing Authorization: Bearer <token> header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("malformed Authorization header; expected 'Bearer <token>'")
    g.api_user = user_for_token(token.strip())
    return g.api_user


def web_user() -> User:
    """The logged-in browser user (views are guarded by ``login_required``)."""
    return current_user._get_current_object()


def password_check():
    """A password re-check (for signing) that counts failures with this app's lockout settings."""
    settings = current_app.config["ECRF"]

    def check(user: User, password: str) -> None:
        confirm_password(user, password, lockout_attempts=settings.lockout_attempts,
                         lockout_minutes=settings.lockout_minutes)

    return check
