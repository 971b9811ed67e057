"""SAE report pages: the list (overdue first, by site), one report's form, and its actions
(submit with password, acknowledge, request follow-up, close), and its CIOMS-I PDF."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from audit import utc_now
from ecrf.auth import password_check
from ecrf.downloads import cioms_download
from ecrf.errors import DomainError, Invalid
from ecrf.i18n import N_, current_language
from ecrf.roles import Action, may
from ecrf.safety import reports as service
from ecrf.safety.clock import hours_minutes
from ecrf.safety.content import CHOICE_LABELS, FIELDS
from ecrf.safety.reports import STATES, SaeReport
from ecrf.scope import page_scope
from ecrf.sites import site_timezone
from ecrf.views.messages import flash_error

bp = Blueprint("sae", __name__)
bp.url_value_preprocessor(page_scope)

DONE = {"submit": N_("SAE report submitted"), "acknowledge": N_("SAE report acknowledged"),
        "followup": N_("Follow-up requested"), "close": N_("SAE report closed")}  # base.html translates


def clock_text(report: SaeReport, now: dt.datetime) -> dict | None:
    """The report's clock for a page: ``{"overdue", "hours", "minutes"}``, None when nothing is owed."""
    left = report.remaining(now)
    if left is None:
        return None
    hours, minutes = hours_minutes(left)
    return {"overdue": report.is_overdue(now), "hours": hours, "minutes": minutes}


@bp.get("/studies/<study>/sae")
@login_required
def index(study: str):
    user, runtime, now = g.user, g.runtime, utc_now()
    filters = {k: request.args.get(k) or None for k in ("site", "state")}
    found = service.list_reports(runtime, user, now=now, **filters)
    return render_template("sae.html", study=runtime, reports=found, filters=filters, states=STATES, now=now,
                           overdue=service.overdue_by_site(found, now), clock=clock_text)


def _local(value: str | None, tz) -> str:
    """A stored UTC ISO time as the value of a ``datetime-local`` input in the site's zone."""
    if not value:
        return ""
    return dt.datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def _render(report: SaeReport, errors: list | None = None, posted: dict | None = None, status: int = 200):
    user, runtime = g.user, g.runtime
    tz = site_timezone(report.site)
    values = {**report.data, **(posted or {})}
    values["awareness_at"] = (posted or {}).get("awareness_at") or _local(report.data.get("awareness_at"), tz)
    can = {"edit": may(user.role, Action.REPORT_SAE) and report.state in service.EDITABLE,
           "submit": may(user.role, Action.SUBMIT_SAE) and report.state in service.TRANSITIONS["submit"][0],
           "review": may(user.role, Action.REVIEW_SAE), "data": may(user.role, Action.VIEW_DATA)}
    return render_template("sae_report.html", study=runtime, report=report, fields=FIELDS, values=values,
                           choice_labels=CHOICE_LABELS, labels_by_name={f.name: f.label for f in FIELDS},
                           errors=errors or [], tz=tz, can=can, now=utc_now(), clock=clock_text,
                           trail=service.report_trail(report)), status


@bp.route("/studies/<study>/sae/<report_id>", methods=["GET", "POST"])
@login_required
def page(study: str, report_id: str):
    """The report; a POST saves its content (422 with an error summary naming each field by its label)."""
    report = service.get_report(g.runtime, g.user, report_id)
    if request.method == "GET":
        return _render(report)
    posted = {f.name: (request.form.getlist(f.name) if f.kind == "choices" else request.form.get(f.name) or None)
              for f in FIELDS}
    if not FlaskForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return _render(report, posted=posted, status=400)
    try:
        service.update_report(g.runtime, g.user, report_id, posted, request.form.get("version", type=int))
    except Invalid as invalid:
        return _render(report, invalid.errors, posted, 422)
    flash(N_("SAE report saved"), "success")
    return redirect(url_for("sae.page", study=study, report_id=report_id))


@bp.post("/studies/<study>/sae/<report_id>/do/<action>")
@login_required
def act(study: str, report_id: str, action: str):
    back = url_for("sae.page", study=study, report_id=report_id)
    if action not in DONE or not FlaskForm().validate_on_submit():
        flash("The form expired or the action is unknown; try again.", "error")
        return redirect(back)
    runtime, user, text = g.runtime, g.user, request.form.get("text") or None
    try:
        if action == "submit":
            service.submit(runtime, user, report_id, request.form.get("password"), check_password=password_check())
        elif action == "followup":
            service.request_followup(runtime, user, report_id, text, request.form.get("due") or None)
        else:
            {"acknowledge": service.acknowledge, "close": service.close}[action](runtime, user, report_id, text)
    except DomainError as error:
        flash_error(error)
    else:
        flash(DONE[action], "success")
    return redirect(back)


@bp.get("/studies/<study>/sae/<report_id>/cioms.pdf")
@login_required
def cioms(study: str, report_id: str):
    """The report as a CIOMS-I PDF in the reader's language."""
    return cioms_download(g.runtime, service.get_report(g.runtime, g.user, report_id), current_language())
