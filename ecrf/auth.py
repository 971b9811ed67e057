"""Who is calling: browser sessions (Flask-Login, CSRF) and API bearer tokens.

A browser session holds the user's session generation from the moment it began and the time of
sign-in. Each request checks both against the database, so that one update of the user (logout,
password change, disable, role or site change, "sign out everywhere") ends every session of that
user in every worker process, and no session outlives ``session_max_hours``.
"""

from __future__ import annotations

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, current_user, login_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from audit import utc_now
from ecrf.errors import NotAuthenticated
from ecrf.users import User, confirm_password, user_for_token

login_manager = LoginManager()
csrf = CSRFProtect()
SESSION_GENERATION = "ecrf_session_generation"
SIGNED_IN_AT = "ecrf_signed_in_at"
# What a user whose password an administrator reset may still open before changing it.
OPEN_BEFORE_PASSWORD_CHANGE = frozenset({"auth.password", "auth.logout", "auth.login", "auth.language", "static",
                                         "health.healthz"})


class TransportAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, whose cookie is ``Secure`` whenever the request came over TLS
    (directly, or through a proxy trusted by ``ECRF_PROXY_FIX``), not only when configured so."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or request.is_secure


def init_app(app: Flask) -> None:
    """Install session login, CSRF protection on every HTML form, the idle timeout, and the proxy headers
    to trust (``ECRF_PROXY_FIX``)."""
    settings = app.config["ECRF"]
    if settings.proxy_fix:
        hops = settings.proxy_fix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
    app.session_interface = TransportAwareSessionInterface()
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    csrf.init_app(app)

    @app.before_request
    def _idle_timeout() -> None:
        session.permanent = True  # the cookie's lifetime restarts on each request: an idle timeout

    app.before_request(password_change_first)


def password_change_first():
    """Send a signed-in user who holds a one-time password to the password page, whatever they asked for.

    The API is left alone: it takes no sessions, and the user's tokens are refused meanwhile
    (:func:`ecrf.users.user_for_token`).
    """
    if request.endpoint in OPEN_BEFORE_PASSWORD_CHANGE or request.path.startswith("/api/"):
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        return redirect(url_for("auth.password"))
    return None


def start_session(user: User) -> None:
    """Sign ``user`` in on this browser, in a fresh session bound to their current session generation.

    Only the interface language is carried over from the session before.
    """
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    login_user(user)
    session[SESSION_GENERATION] = user.session_generation or 0
    session[SIGNED_IN_AT] = utc_now().timestamp()


@login_manager.user_loader
def _load_user(username: str) -> User | None:
    """The session's user while the session holds: user active, same generation, within the absolute lifetime."""
    user = User.objects(username=username).first()
    if user is None or not user.active or session.get(SESSION_GENERATION) != (user.session_generation or 0):
        return None
    max_age = current_app.config["ECRF"].session_max_hours * 3600
    signed_in_at = session.get(SIGNED_IN_AT)
    if not isinstance(signed_in_at, (int, float)) or utc_now().timestamp() - signed_in_at > max_age:
        return None
    return user


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
