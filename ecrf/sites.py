"""Sites: the places that enrol subjects, each with its own time zone."""

from __future__ import annotations

import re
import zoneinfo

from mongoengine import DateTimeField, Document, StringField

from audit import utc_now
from ecrf.errors import BadRequest, Conflict, FieldError, Invalid
from ecrf.text import MAX_NAME, text_error
from ecrf.trail import record_admin_event

SITE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


class Site(Document):
    code = StringField(primary_key=True)
    name = StringField(required=True)
    timezone = StringField(default="UTC")
    created_at = DateTimeField()
    meta = {"collection": "sites"}


def add_site(code: str, name: str, timezone: str = "UTC", *, actor: str = "system") -> Site:
    """Create a site; refuses a malformed or duplicate code or an unknown time zone."""
    errors = []
    if not isinstance(code, str) or not SITE_CODE.fullmatch(code):
        errors.append(FieldError("/code", "site code must be 1-32 letters, digits, '-' or '_'"))
    if not (name or "").strip():
        errors.append(FieldError("/name", "site name is required"))
    elif name_error := text_error(name, "/name", max_length=MAX_NAME, label="Name"):
        errors.append(name_error)
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError("/timezone", f"unknown time zone {timezone!r}"))
    if errors:
        raise Invalid("invalid site", errors)
    if Site.objects(code=code).first():
        raise Conflict(f"site {code!r} already exists", [FieldError("/code", "already exists")])
    site = Site(code=code, name=name.strip(), timezone=timezone, created_at=utc_now()).save(force_insert=True)
    record_admin_event(f"site/{code}", actor, "site_created", {"name": site.name, "timezone": timezone})
    return site


def get_site(code: str) -> Site:
    """The site with that code; :class:`BadRequest` naming it if there is none."""
    site = Site.objects(code=code).first()
    if site is None:
        raise BadRequest(f"unknown site {code!r}", [FieldError("/site", f"unknown site {code!r}")])
    return site


def site_timezone(code: str) -> zoneinfo.ZoneInfo:
    """The site's time zone (UTC when unknown)."""
    site = Site.objects(code=code).only("timezone").first()
    try:
        return zoneinfo.ZoneInfo(site.timezone if site else "UTC")
    except zoneinfo.ZoneInfoNotFoundError:
        return zoneinfo.ZoneInfo("UTC")
