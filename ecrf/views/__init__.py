"""The HTML side: one blueprint per area; views parse, call one service, render."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

from flask import Flask, g

from ecrf.coding.dictionary import dictionary
from ecrf.readiness import item_label
from ecrf.sites import site_timezone
from ecrf.views import (
    access_review,
    account,
    admin,
    attachments,
    coding,
    exports,
    health,
    imports,
    notifications,
    queries,
    ranges,
    records,
    reports,
    sae,
    sdv,
    signoff,
    studies,
    subjects,
    users,
)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def utc_text(value: dt.datetime | None) -> str:
    """A stored time as UTC text."""
    return "" if value is None else _aware(value).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def site_time_text(value: dt.datetime | None, tz: zoneinfo.ZoneInfo) -> str:
    """A stored (UTC) time shown in the site's time zone."""
    return "" if value is None else _aware(value).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def time_at_site(value: dt.datetime | None, site: str) -> str:
    """A stored (UTC) time in the time zone of the site with that code (looked up once per request)."""
    zones = g.setdefault("site_zones", {})
    if site not in zones:
        zones[site] = site_timezone(site)
    return site_time_text(value, zones[site])


def audit_value(value) -> str:
    """A changed value as short text."""
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def register_views(app: Flask) -> None:
    """Register every HTML blueprint, the health check and the template filters."""
    for module in (
        access_review,
        account,
        admin,
        attachments,
        coding,
        exports,
        health,
        imports,
        notifications,
        queries,
        ranges,
        records,
        reports,
        sae,
        sdv,
        signoff,
        studies,
        subjects,
        users,
    ):
        app.register_blueprint(module.bp)
    app.add_template_filter(utc_text, "utc")
    app.add_template_filter(site_time_text, "sitetime")
    app.add_template_filter(time_at_site, "atsite")
    app.add_template_filter(audit_value, "auditvalue")
    app.add_template_global(item_label, "item_label")
    app.add_template_global(dictionary, "coding_dictionary")
