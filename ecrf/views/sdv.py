"""Source data verification pages: the SDV worklist, and the per-item SDV panel of the form page."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request
from flask_login import login_required

from ecrf.definitions import CompiledForm, Item
from ecrf.errors import Forbidden
from ecrf.roles import Action, may
from ecrf.scope import page_scope
from ecrf.sdv import required_items, sdv_status
from ecrf.sdv_worklist import OPEN, may_see_worklist, worklist
from ecrf.sites import Site
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject, list_subjects

bp = Blueprint("sdv", __name__)
bp.url_value_preprocessor(page_scope)

FILTERS = ("site", "subject", "event", "status")


def shown_value(item: Item | None, value, lang: str) -> str:
    """An item's value as the SDV panel shows it: a choice's label, a repeating group's row count, — for none."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list) and item is not None and item.kind == "group":
        return f"{len(value)} ×"
    if isinstance(value, list):
        return ", ".join(item.choice_label(v, lang) if item else str(v) for v in value)
    if isinstance(value, bool):
        return "✓" if value else "✗"
    return item.choice_label(value, lang) if item is not None and item.choices else str(value)


def sdv_panel(study: StudyRuntime, user, subject: Subject, form: CompiledForm, record: dict | None,
              lang: str) -> dict | None:
    """The form page's SDV panel: each item with its value, whether it needs SDV, its stamp and its marker."""
    if not record:
        return None
    required = required_items(study, form, subject.subject_id, subject.site)
    verified = record.get("sdv_items") or {}
    if not verified and record.get("sdv"):
        verified = {f"/{item.oid}": record["sdv"] for item in form.items}
    markers = record.get("sdv_changes") or {}
    data = record.get("data") or {}
    rows = []
    for item in form.items:
        pointer = f"/{item.oid}"
        marker = markers.get(pointer)
        state = ("changed" if marker else "verified" if pointer in verified
                 else "awaiting" if pointer in required else "not_required")
        rows.append({"pointer": pointer, "oid": item.oid, "label": item.label(lang), "state": state,
                     "value": shown_value(item, data.get(item.oid), lang), "stamp": verified.get(pointer),
                     "marker": marker and {**marker, "old": shown_value(item, marker.get("old"), lang),
                                           "new": shown_value(item, marker.get("new"), lang)}})
    return {"status": sdv_status(record, required), "rows": rows, "required": required,
            "verify": may(user.role, Action.VERIFY) and not record.get("locked"),
            "due": [row for row in rows if row["state"] in ("awaiting", "changed")]}


@bp.get("/studies/<study>/sdv")
@login_required
def index(study: str):
    """The SDV worklist, filtered by site, subject, visit and status (monitors and data managers)."""
    user, runtime = g.user, g.runtime
    if not may_see_worklist(user):
        raise Forbidden(f"a {user.role} does not work the SDV worklist")
    filters = {key: request.args.get(key) or None for key in FILTERS}
    items = worklist(runtime, user, **filters)
    sites = Site.objects(code__in=user.sites) if not user.all_sites else Site.objects
    return render_template("sdv.html", study=runtime, items=items, filters=filters, open_statuses=OPEN,
                           sites=[s.code for s in sites.order_by("code")],
                           subjects=[s.subject_id for s in list_subjects(runtime, user, filters["site"])])
