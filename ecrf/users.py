"""Users, their roles and sites, passwords (argon2) and API tokens (stored hashed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin
from mongoengine import BooleanField, DateTimeField, Document, IntField, ListField, StringField

from audit import utc_now
from ecrf.db import lookup
from ecrf.errors import BadRequest, Conflict, FieldError, Invalid, NotAuthenticated
from ecrf.roles import ALL_SITES, ROLES, Role
from ecrf.sites import Site
from ecrf.text import MAX_NAME, text_error
from ecrf.trail import record_admin_event

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
TOKEN_PREFIX = "ecrf_"
TOKEN = re.compile(r"^ecrf_[A-Za-z0-9_-]{43}$")
_hasher = PasswordHasher()


class User(UserMixin, Document):
    username = StringField(primary_key=True)
    full_name = StringField(default="")
    role = StringField(required=True, choices=ROLES)
    sites = ListField(StringField())
    password_hash = StringField()
    password_history = ListField(StringField())
    active = BooleanField(default=True)
    failed_logins = IntField(default=0)
    locked_until = DateTimeField()
    created_at = DateTimeField()
    meta = {"collection": "users"}

    def get_id(self) -> str:
        return self.username

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    @property
    def all_sites(self) -> bool:
        """True for roles whose work spans every site."""
        return Role(self.role) in ALL_SITES

    def site_filter(self) -> list[str] | None:
        """The site codes this user may see, or None for all sites."""
        return None if self.all_sites else list(self.sites)

    def sees_site(self, code: str) -> bool:
        return self.all_sites or code in self.sites

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class ApiToken(Document):
    token_hash = StringField(primary_key=True)
    username = StringField(required=True)
    created_at = DateTimeField()
    revoked_at = DateTimeField()
    meta = {"collection": "api_tokens", "indexes": ["username"]}


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def password_matches(user: User, password: str) -> bool:
    """True when ``password`` is the user's password."""
    if not user.password_hash or not password:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problems(username: str, password: str, min_length: int) -> list[str]:
    """Why the password is not acceptable (empty list when it is)."""
    problems = []
    if len(password or "") < min_length:
        problems.append(f"password must have at least {min_length} characters")
    if password and username and username.lower() in password.lower():
        problems.append("password must not contain the username")
    return problems


def add_user(
    username: str,
    role: str,
    sites: list[str] | None = None,
    password: str | None = None,
    *,
    full_name: str = "",
    actor: str = "system",
    min_password_length: int = 12,
) -> User:
    """Create a user; refuses an unknown role or site, a duplicate or weak password.

    Nothing is stored when anything is wrong.
    """
    sites = list(dict.fromkeys(sites or []))
    errors = []
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        errors.append(FieldError("/username", "username must be 2-64 letters, digits or . _ @ -"))
    if name_error := text_error(full_name, "/full_name", max_length=MAX_NAME, label="Printed name"):
        errors.append(name_error)
    if role not in ROLES:
        errors.append(FieldError("/role", f"unknown role {role!r}; roles: {', '.join(ROLES)}"))
    known = {s.code for s in Site.objects(code__in=sites).only("code")}
    for code in sites:
        if code not in known:
            errors.append(FieldError("/sites", f"unknown site {code!r}"))
    if role in ROLES and Role(role) not in ALL_SITES and not sites:
        errors.append(FieldError("/sites", f"a {role} needs at least one site"))
    if password is not None:
        errors += [FieldError("/password", p) for p in password_problems(username, password, min_password_length)]
    if errors:
        raise Invalid("invalid user", errors)
    if User.objects(username=username).first():
        raise Conflict(f"user {username!r} already exists", [FieldError("/username", "already exists")])
    user = User(
        username=username, full_name=full_name, role=role, sites=sites,
        password_hash=hash_password(password) if password else None,
        created_at=utc_now(),
    ).save(force_insert=True)
    record_admin_event(f"user/{username}", actor, "user_created", {"role": role, "sites": sites})
    return user


def get_user(username: str) -> User:
    """The user, or :class:`BadRequest` naming the unknown username."""
    user = User.objects(username=username).first()
    if user is None:
        raise BadRequest(f"unknown user {username!r}", [FieldError("/username", "unknown user")])
    return user


def issue_token(username: str, *, actor: str = "system") -> str:
    """A new API token for the user; only its SHA-256 is stored, so it is shown once."""
    user = get_user(username)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken(token_hash=_token_hash(token), username=user.username, created_at=utc_now()).save(force_insert=True)
    record_admin_event(f"user/{username}", actor, "token_issued")
    return token


def revoke_tokens(username: str, *, actor: str = "system") -> int:
    """Revoke every live token of the user; returns how many."""
    count = ApiToken.objects(username=username, revoked_at=None).update(revoked_at=utc_now())
    record_admin_event(f"user/{username}", actor, "tokens_revoked", {"count": count})
    return count


def user_for_token(token: str) -> User:
    """The active user holding this token; :class:`NotAuthenticated` saying why not."""
    if not TOKEN.match(token or ""):
        raise NotAuthenticated("malformed API token")
    # Every API request asks this: the token and its user in one command.
    record = next(ApiToken._get_collection().aggregate([
        {"$match": {"_id": _token_hash(token)}}, lookup(User, "username", "_id", "users")]), None)
    if record is None:
        raise NotAuthenticated("unknown API token")
    if record.get("revoked_at") is not None:
        raise NotAuthenticated("API token revoked")
    user = User._from_son(record["users"][0]) if record["users"] else None
    if user is None or not user.active:
        raise NotAuthenticated("user disabled")
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(username: str, password: str, *, lockout_attempts: int = 5, lockout_minutes: int = 15) -> User:
    """The user if the password is right; counts failures and locks the account.

    Every outcome is audited. Raises :class:`NotAuthenticated` with a message
    that does not reveal whether the username exists.
    """
    user = User.objects(username=username).first() if username else None
    now = utc_now()
    if user is None:
        raise NotAuthenticated("wrong username or password")
    locked_until = _aware(user.locked_until)
    if locked_until and locked_until > now:
        record_admin_event(f"user/{user.username}", user.username, "login_refused_locked")
        raise NotAuthenticated("account locked after repeated failed logins; try again later")
    if not user.active:
        record_admin_event(f"user/{user.username}", user.username, "login_refused_disabled")
        raise NotAuthenticated("wrong username or password")
    if not password_matches(user, password):
        failed = (user.failed_logins or 0) + 1
        update = {"set__failed_logins": failed}
        if failed >= lockout_attempts:
            update.update(set__locked_until=now + dt.timedelta(minutes=lockout_minutes), set__failed_logins=0)
        User.objects(username=user.username).update(**update)
        record_admin_event(f"user/{user.username}", user.username, "login_failed", {"attempt": failed})
        if failed >= lockout_attempts:
            record_admin_event(f"user/{user.username}", user.username, "account_locked")
        raise NotAuthenticated("wrong username or password")
    User.objects(username=user.username).update(set__failed_logins=0, unset__locked_until=True)
    record_admin_event(f"user/{user.username}", user.username, "login")
    return user


def confirm_password(user: User, password: str, *, lockout_attempts: int = 5, lockout_minutes: int = 15) -> None:
    """Re-authenticate a signed-in user (signing): a wrong password counts toward lockout."""
    authenticate(user.username, password, lockout_attempts=lockout_attempts, lockout_minutes=lockout_minutes)


def change_password(user: User, current: str, new: str, *, min_length: int = 12, history: int = 5,
                    actor: str | None = None) -> None:
    """Set a new password: policy (length, not the username, not one of the last ``history``); audited."""
    if current is not None and not password_matches(user, current):
        raise NotAuthenticated("current password is wrong")
    problems = password_problems(user.username, new, min_length)
    recent = [user.password_hash, *(user.password_history or [])][:history]
    for old_hash in recent:
        try:
            if old_hash and _hasher.verify(old_hash, new):
                problems.append(f"password must differ from the last {history}")
                break
        except (VerificationError, InvalidHashError):
            continue
    if problems:
        raise Invalid("password refused", [FieldError("/password", p) for p in problems])
    User.objects(username=user.username).update(
        set__password_hash=hash_password(new),
        set__password_history=[h for h in recent if h][: max(history - 1, 0)],
    )
    record_admin_event(f"user/{user.username}", actor or user.username, "password_changed")


def set_active(username: str, active: bool, *, actor: str = "system") -> User:
    """Disable or re-enable a user; users are never deleted. Disabling revokes their tokens."""
    user = get_user(username)
    User.objects(username=username).update(set__active=active)
    if not active:
        ApiToken.objects(username=username, revoked_at=None).update(revoked_at=utc_now())
    record_admin_event(f"user/{username}", actor, "user_enabled" if active else "user_disabled")
    return user.reload()


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value
