"""How a user is shown by the API: role, sites, status and sign-in, never a password hash."""

from __future__ import annotations

from audit import utc_now
from ecrf import users as accounts
from ecrf.access_review import account_status
from ecrf.times import iso
from ecrf.users import User


def user_json(user: User) -> dict:
    """A user as the API shows it: never a password hash."""
    return {"username": user.username, "full_name": user.full_name or "", "role": user.role,
            "sites": list(user.sites or []), "active": bool(user.active), "status": account_status(user, utc_now()),
            "must_change_password": bool(user.must_change_password), "last_login": iso(user.last_login),
            "created_at": iso(user.created_at), "live_tokens": accounts.live_tokens(user.username)}
