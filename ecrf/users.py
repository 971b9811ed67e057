"""Users, their roles and sites, passwords (argon2) and API tokens (stored hashed)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin
from mongoengine import BooleanField, DateTimeField, Document, IntField, ListField, StringField
from pymongo import ReturnDocument

from audit import utc_now
from ecrf.db import lookup
from ecrf.errors import BadRequest, Conflict, FieldError, Forbidden, Invalid, NotAuthenticated, NotFound
from ecrf.passwords import password_problems
from ecrf.roles import ALL_SITES, ROLES, Role
from ecrf.sites import Site
from ecrf.text import MAX_NAME, text_error
from ecrf.trail import record_admin_event

EMAIL = re.compile(r"^[^@\s<>\",;]+@[^@\s<>\",;]+\.[^@\s<>\",;]+$")
MAX_EMAIL = 254
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
TOKEN_PREFIX = "ecrf_"
TOKEN = re.compile(r"^ecrf_[A-Za-z0-9_-]{43}$")
# A one-time password: groups of letters and digits that cannot be misread for one another (no 0/O, 1/l/I).
ONE_TIME_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ONE_TIME_GROUP = 5
MUST_CHANGE_PASSWORD = "the password was reset by an administrator: sign in on the web and set a new one first"
LOGIN_REFUSED = ("wrong username or password (after %(attempts)s failed attempts an account is locked for "
                 "%(minutes)s minutes)")
_hasher = PasswordHasher()
log = logging.getLogger(__name__)


class User(UserMixin, Document):
    username = StringField(primary_key=True)
    full_name = StringField(default="")
    email = StringField()  # where notifications are e-mailed (optional)
    role = StringField(required=True, choices=ROLES)
    sites = ListField(StringField())
    password_hash = StringField()
    password_history = ListField(StringField())
    active = BooleanField(default=True)
    failed_logins = IntField(default=0)
    locked_until = DateTimeField()
    # Raised to end every browser session of the user at once: a session holds the generation it began in.
    session_generation = IntField(default=0)
    # Set by an administrator's password reset: the one-time password only opens the password page.
    must_change_password = BooleanField(default=False)
    last_login = DateTimeField()  # the time of the newest "login" event of the user's stream
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
    return _verify(user.password_hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    """One argon2 verification, whatever the input: a user without a hash is checked against a dummy one,
    so that every answer costs the same work."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(_hasher), password or "") and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of a random password made once with ``hasher``'s parameters (those of real users' hashes)."""
    return hasher.hash(secrets.token_urlsafe(32))


def add_user(
    username: str,
    role: str,
    sites: list[str] | None = None,
    password: str | None = None,
    *,
    full_name: str = "",
    actor: str = "system",
    min_password_length: int = 12,
    reason: str | None = None,
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
    errors += _role_problems(role, sites)
    if password is not None:
        errors += [FieldError("/password", p) for p in password_problems(
            password, min_length=min_password_length, username=username, full_name=full_name)]
    if errors:
        raise Invalid("invalid user", errors)
    if User.objects(username=username).first():
        raise Conflict(f"user {username!r} already exists", [FieldError("/username", "already exists")])
    user = User(
        username=username, full_name=full_name, role=role, sites=sites,
        password_hash=hash_password(password) if password else None,
        created_at=utc_now(),
    ).save(force_insert=True)
    record_admin_event(f"user/{username}", actor, "user_created", {
        "role": role, "sites": sites, "full_name": full_name, "password": password_digest(user.password_hash)},
        reason=reason)
    return user


def add_user_with_one_time_password(username: str, role: str, sites: list[str] | None = None, *,
                                    full_name: str = "", actor: str, reason: str | None = None,
                                    min_password_length: int = 12) -> str:
    """Create a user (as :func:`add_user`) whose first password is a one-time password, returned once: they must
    change it at their first sign-in."""
    add_user(username, role, sites, None, full_name=full_name, actor=actor, reason=reason,
             min_password_length=min_password_length)
    return reset_password(username, actor=actor, reason="initial one-time password", min_length=min_password_length)


def _role_problems(role: str, sites: list[str]) -> list[FieldError]:
    """Why ``role`` with ``sites`` cannot be given to a user: an unknown role or site, a site role without a site."""
    errors = []
    if role not in ROLES:
        errors.append(FieldError("/role", f"unknown role {role!r}; roles: {', '.join(ROLES)}"))
    known = {s.code for s in Site.objects(code__in=sites).only("code")}
    for code in sites:
        if code not in known:
            errors.append(FieldError("/sites", f"unknown site {code!r}"))
    if role in ROLES and Role(role) not in ALL_SITES and not sites:
        errors.append(FieldError("/sites", f"a {role} needs at least one site"))
    return errors


def get_user(username: str) -> User:
    """The user, or :class:`BadRequest` naming the unknown username."""
    user = User.objects(username=username).first()
    if user is None:
        raise BadRequest(f"unknown user {username!r}", [FieldError("/username", "unknown user")])
    return user


def find_user(username: str) -> User:
    """The user named in a URL, or :class:`NotFound` (404)."""
    user = User.objects(username=username).first()
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def issue_token(username: str, *, actor: str = "system", reason: str | None = None) -> str:
    """A new API token for the user; only its SHA-256 is stored, so it is shown once."""
    user = get_user(username)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken(token_hash=_token_hash(token), username=user.username, created_at=utc_now()).save(force_insert=True)
    record_admin_event(f"user/{username}", actor, "token_issued", reason=reason)
    return token


def revoke_tokens(username: str, *, actor: str = "system", reason: str | None = None) -> int:
    """Revoke every live token of the user; returns how many."""
    count = ApiToken.objects(username=username, revoked_at=None).update(revoked_at=utc_now())
    record_admin_event(f"user/{username}", actor, "tokens_revoked", {"count": count}, reason=reason)
    return count


def live_tokens(username: str) -> int:
    """How many API tokens of the user are not revoked."""
    return ApiToken.objects(username=username, revoked_at=None).count()


def user_for_token(token: str) -> User:
    """The active, unlocked user holding this token; :class:`NotAuthenticated` saying why not."""
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
    if is_locked(user, utc_now()):
        raise NotAuthenticated("user locked after repeated failed logins; try again later")
    if user.must_change_password:
        raise Forbidden(MUST_CHANGE_PASSWORD)
    return user


def password_digest(password_hash: str | None) -> str | None:
    """What a user's audit stream keeps of a password hash: its SHA-256, so that verify can tell
    a hash written into the database directly from one the application set (None: no password)."""
    return hashlib.sha256(password_hash.encode()).hexdigest() if password_hash else None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_locked(user: User, now: dt.datetime) -> bool:
    """True while the user is locked out after repeated failed logins."""
    locked_until = _aware(user.locked_until)
    return locked_until is not None and locked_until > now


def login_refused_message(lockout_attempts: int, lockout_minutes: int) -> str:
    """The one answer to every refused login: a wrong password, an unknown, disabled or locked account.

    Saying "locked" only for accounts that exist would tell an attacker which usernames do.
    """
    return LOGIN_REFUSED % {"attempts": lockout_attempts, "minutes": lockout_minutes}


def authenticate(username: str, password: str, *, lockout_attempts: int = 5, lockout_minutes: int = 15) -> User:
    """The user if the password is right, else :class:`NotAuthenticated` with :func:`login_refused_message`.

    Bursts of parallel attempts cannot check more than ``lockout_attempts`` passwords before the lock,
    and an unknown username costs the same password check as a known one:

    1. claim: one conditional update counts the attempt as failed *before* the check, and only while the
       account is active, unlocked and under the limit; the claim that reaches the limit locks the account;
    2. check: one argon2 verification, against the user's hash when the claim succeeded, otherwise
       against a dummy hash (unknown, disabled or locked: the same work, the same answer);
    3. settle: the right password clears the count and the lock;
    4. audit: every attempt on an existing account is an event on its user stream.
    """
    now = utc_now()
    refused = NotAuthenticated(login_refused_message(lockout_attempts, lockout_minutes))
    claimed = _claim_attempt(username, lockout_attempts, now) if username else None
    if claimed is None:
        _verify(None, password)
        _refuse(username, lockout_attempts, lockout_minutes, now)
        raise refused
    user = User._from_son(claimed)
    locked = claimed["failed_logins"] >= lockout_attempts and _lock(user.username, lockout_attempts,
                                                                      lockout_minutes, now)
    if not password_matches(user, password):
        record_admin_event(f"user/{user.username}", user.username, "login_failed",
                           {"attempt": claimed["failed_logins"]})
        if locked:
            record_admin_event(f"user/{user.username}", user.username, "account_locked")
        raise refused
    login = record_admin_event(f"user/{user.username}", user.username, "login")
    # $max: parallel logins of one user may land in any order; the newest event's time wins.
    User.objects(username=user.username).update(set__failed_logins=0, unset__locked_until=True,
                                                max__last_login=login["at"])
    user.failed_logins, user.locked_until = 0, None
    return user


def _claim_attempt(username: str, lockout_attempts: int, now: dt.datetime) -> dict | None:
    """Count one attempt on an active account that is neither locked nor at its limit: the user document
    as it is afterwards, or None when there is no such account (unknown, disabled, locked, at the limit)."""
    return User._get_collection().find_one_and_update(
        {"_id": username, "active": True,
         "$and": [{"$or": [{"failed_logins": {"$lt": lockout_attempts}}, {"failed_logins": None}]},
                  {"$or": [{"locked_until": None}, {"locked_until": {"$lte": now}}]}]},
        {"$inc": {"failed_logins": 1}}, return_document=ReturnDocument.AFTER)


def _lock(username: str, lockout_attempts: int, lockout_minutes: int, now: dt.datetime) -> bool:
    """Lock an account whose count has reached the limit and that is not locked yet; True if this call did.

    The count starts again from zero when the lock ends.
    """
    result = User._get_collection().update_one(
        {"_id": username, "failed_logins": {"$gte": lockout_attempts},
         "$or": [{"locked_until": None}, {"locked_until": {"$lte": now}}]},
        {"$set": {"locked_until": now + dt.timedelta(minutes=lockout_minutes), "failed_logins": 0}})
    return result.modified_count == 1


def _refuse(username: str, lockout_attempts: int, lockout_minutes: int, now: dt.datetime) -> None:
    """Audit a refused attempt on an existing account (an unknown name is only logged: it has no stream).

    An account left at its limit without a lock (a process died between claim and lock) is locked here.
    """
    user = User.objects(username=username).first() if username else None
    if user is None:
        log.warning("login refused for an unknown username %r", (username or "")[:64])
        return
    if not user.active:
        record_admin_event(f"user/{user.username}", user.username, "login_refused_disabled")
        return
    if not is_locked(user, now) and _lock(user.username, lockout_attempts, lockout_minutes, now):
        record_admin_event(f"user/{user.username}", user.username, "account_locked")
    record_admin_event(f"user/{user.username}", user.username, "login_refused_locked")


def unlock(username: str, *, actor: str = "system", reason: str | None = None) -> User:
    """End a lockout before its time (an administrator who has checked who was guessing); audited."""
    get_user(username)
    User.objects(username=username).update(set__failed_logins=0, unset__locked_until=True)
    record_admin_event(f"user/{username}", actor, "account_unlocked", reason=reason)
    return get_user(username)


def confirm_password(user: User, password: str, *, lockout_attempts: int = 5, lockout_minutes: int = 15) -> None:
    """Re-authenticate a signed-in user (signing): a wrong password counts toward lockout."""
    authenticate(user.username, password, lockout_attempts=lockout_attempts, lockout_minutes=lockout_minutes)


def change_password(user: User, current: str, new: str, *, min_length: int = 12, history: int = 5,
                    actor: str | None = None) -> None:
    """Set a new password and end every session of the user; audited.

    Policy: :func:`ecrf.passwords.password_problems` (length, strength, not the username) and not one of
    the last ``history`` passwords.
    """
    if current is not None and not password_matches(user, current):
        raise NotAuthenticated("current password is wrong")
    problems = password_problems(new, min_length=min_length, username=user.username, full_name=user.full_name)
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
    new_hash = hash_password(new)
    generation = _update_ending_sessions(user.username, {
        "password_hash": new_hash, "password_history": [h for h in recent if h][: max(history - 1, 0)],
        "must_change_password": False})
    record_admin_event(f"user/{user.username}", actor or user.username, "password_changed",
                       {"session_generation": generation, "password": password_digest(new_hash)})


def one_time_password(username: str, full_name: str = "", *, min_length: int = 12) -> str:
    """A random password (:mod:`secrets`) that the password policy accepts for this user: groups of
    :data:`ONE_TIME_GROUP` unambiguous characters joined by ``-``, at least ``min_length`` long."""
    groups = max(4, -(-min_length // (ONE_TIME_GROUP + 1)) + 1)
    while True:
        password = "-".join("".join(secrets.choice(ONE_TIME_ALPHABET) for _ in range(ONE_TIME_GROUP))
                            for _ in range(groups))
        if not password_problems(password, min_length=min_length, username=username, full_name=full_name):
            return password


def reset_password(username: str, *, actor: str, reason: str | None = None, min_length: int = 12) -> str:
    """Give the user a one-time password (returned, shown once, never stored in clear) that they must change
    at their next sign-in; ends their sessions and any lockout; audited. Until they change it, every page
    leads to the password page and their API tokens answer 403."""
    user = get_user(username)
    _not_own_account(username, actor, "reset the password of")
    password = one_time_password(user.username, user.full_name or "", min_length=min_length)
    new_hash = hash_password(password)
    history = [h for h in [user.password_hash, *(user.password_history or [])] if h]
    generation = _update_ending_sessions(username, {
        "password_hash": new_hash, "password_history": history, "must_change_password": True,
        "failed_logins": 0, "locked_until": None})
    record_admin_event(f"user/{username}", actor, "password_reset",
                       {"session_generation": generation, "password": password_digest(new_hash),
                        "must_change_password": True},
                       reason=reason, changes=[{"path": "/must_change_password", "old": bool(
                           user.must_change_password), "new": True}])
    return password


def set_active(username: str, active: bool, *, actor: str = "system", reason: str | None = None) -> User:
    """Disable or re-enable a user; users are never deleted. Disabling revokes their tokens and ends
    their sessions. Audited with the reason and the change of ``/active``."""
    before = get_user(username)
    if not active:
        _not_own_account(username, actor, "disable")
    changes = [{"path": "/active", "old": bool(before.active), "new": active}]
    if active:
        User.objects(username=username).update(set__active=True)
        record_admin_event(f"user/{username}", actor, "user_enabled", reason=reason, changes=changes)
    else:
        generation = _update_ending_sessions(username, {"active": False})
        ApiToken.objects(username=username, revoked_at=None).update(revoked_at=utc_now())
        record_admin_event(f"user/{username}", actor, "user_disabled", {"session_generation": generation},
                           reason=reason, changes=changes)
    return get_user(username)


def change_role(username: str, role: str, sites: list[str] | None = None, *, actor: str = "system",
                reason: str | None = None) -> User:
    """Give the user another role and sites, ending every session they have; audited with the reason and
    the role and sites before and after.

    Refuses an unknown role or site, or a site role without a site; nothing is stored then.
    """
    before = get_user(username)
    _not_own_account(username, actor, "change the role of")
    sites = list(dict.fromkeys(sites or []))
    errors = _role_problems(role, sites)
    if errors:
        raise Invalid("invalid role", errors)
    generation = _update_ending_sessions(username, {"role": role, "sites": sites})
    record_admin_event(f"user/{username}", actor, "user_role_changed",
                       {"role": role, "sites": sites, "session_generation": generation}, reason=reason,
                       changes=[{"path": "/role", "old": before.role, "new": role},
                                {"path": "/sites", "old": list(before.sites or []), "new": sites}])
    return get_user(username)


def end_sessions(username: str, *, actor: str = "system", action: str = "sessions_ended",
                 reason: str | None = None) -> int:
    """End every browser session of the user: each browser must sign in again. Audited as ``action``
    (``logout`` when the user signs out, ``sessions_ended`` when an administrator signs them out everywhere).

    Returns the user's new session generation.
    """
    get_user(username)
    generation = _update_ending_sessions(username, {})
    record_admin_event(f"user/{username}", actor, action, {"session_generation": generation}, reason=reason)
    return generation


def _not_own_account(username: str, actor: str, what: str) -> None:
    """:class:`Conflict` when an administrator would lock themselves out: another administrator does it."""
    if username == actor:
        raise Conflict(f"you cannot {what} your own account; ask another administrator",
                       [FieldError("/username", "your own account")])


def _update_ending_sessions(username: str, changes: dict) -> int:
    """Apply ``changes`` to the user and raise their session generation in the same update; the new one."""
    updated = User._get_collection().find_one_and_update(
        {"_id": username}, {"$set": changes, "$inc": {"session_generation": 1}} if changes
        else {"$inc": {"session_generation": 1}}, return_document=ReturnDocument.AFTER)
    return updated["session_generation"]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def normalised_email(email: object) -> str | None:
    """The address as stored (trimmed), or None for an empty one.

    :raise 422: (``/email``) for anything that is not one e-mail address.
    """
    if email is None or (isinstance(email, str) and not email.strip()):
        return None
    if not isinstance(email, str) or len(email.strip()) > MAX_EMAIL or not EMAIL.fullmatch(email.strip()):
        raise Invalid("invalid e-mail address", [FieldError("/email", "must be one e-mail address")])
    return email.strip()


def set_email(username: str, email: object, actor: str) -> User:
    """Set (or with an empty value clear) the address the user's notifications are e-mailed to; audited.

    :raise 422: (``/email``) for text that is not one address; :raise 400: for an unknown user.
    """
    email = normalised_email(email)
    user = get_user(username)
    record_admin_event(f"user/{username}", actor, "email_set", {"email": email})
    User.objects(username=username).update_one(**({"set__email": email} if email else {"unset__email": True}))
    user.email = email
    return user
