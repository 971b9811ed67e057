"""Per-user choices: for each kind of notification, inbox only, an e-mail at once, or the daily digest.

A user who never chose gets the defaults: SAE notices by e-mail at once (the report is on a 24-hour clock),
the rest in the inbox only. Each change is appended to the user's ``notifications/<username>`` stream.
"""

from __future__ import annotations

from mongoengine import DictField, Document, StringField

from ecrf.errors import FieldError, Invalid
from ecrf.notifications.inbox import DELIVERIES, DIGEST, EMAIL, INBOX, preferences_stream
from ecrf.notifications.kinds import KINDS, SAE_OPENED, SAE_OVERDUE, SAE_SUBMITTED
from ecrf.trail import record_admin_event

DEFAULTS = {kind: EMAIL if kind in (SAE_OPENED, SAE_SUBMITTED, SAE_OVERDUE) else INBOX for kind in KINDS}
__all__ = ["DEFAULTS", "DIGEST", "EMAIL", "INBOX", "Preferences", "choices", "set_choices"]


class Preferences(Document):
    username = StringField(primary_key=True)
    choices = DictField()  # kind -> inbox | email | digest
    meta = {"collection": "notification_preferences"}


def choices(username: str) -> dict[str, str]:
    """The user's delivery for every kind (their choice, else the default)."""
    stored = Preferences.objects(username=username).first()
    return {**DEFAULTS, **{k: v for k, v in (stored.choices if stored else {}).items() if k in DEFAULTS}}


def all_choices(usernames: list[str]) -> dict[str, dict[str, str]]:
    """:func:`choices` of several users in one read."""
    stored = {p.username: p.choices for p in Preferences.objects(username__in=usernames)}
    return {name: {**DEFAULTS, **{k: v for k, v in stored.get(name, {}).items() if k in DEFAULTS}}
            for name in usernames}


def check_choices(wanted: object, at: str = "") -> dict[str, str]:
    """``wanted`` if it is a mapping of known kinds to deliveries.

    :raise 422: naming ``<at>/<kind>`` for an unknown kind or delivery.
    """
    if not isinstance(wanted, dict):
        raise Invalid("preferences must be an object", [FieldError(at or "/", "an object of kind: delivery")])
    errors = [FieldError(f"{at}/{kind}", f"unknown kind; one of {', '.join(KINDS)}") for kind in wanted
              if kind not in KINDS]
    errors += [FieldError(f"{at}/{kind}", f"must be one of {', '.join(DELIVERIES)}")
               for kind, value in wanted.items() if kind in KINDS and value not in DELIVERIES]
    if errors:
        raise Invalid("invalid notification preferences", errors)
    return wanted


def set_choices(username: str, wanted: object, at: str = "") -> dict[str, str]:
    """Store the user's deliveries (a mapping kind -> ``inbox``, ``email`` or ``digest``; kinds left out keep
    theirs) and return them all.

    :raise 422: naming ``<at>/<kind>`` for an unknown kind or delivery (:func:`check_choices`); nothing is
    stored then.
    """
    merged = {**choices(username), **check_choices(wanted, at)}
    record_admin_event(preferences_stream(username), username, "notification_preferences_set",
                       {"choices": merged})
    Preferences.objects(username=username).update_one(set__choices=merged, upsert=True)
    return merged
