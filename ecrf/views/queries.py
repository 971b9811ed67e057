"""Query pages: the filtered, aged list, and the actions on a thread (raise, answer, close, reopen)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from ecrf import queries as service
from ecrf.errors import DomainError, Locked
from ecrf.i18n import N_
from ecrf.scope import page_scope
from ecrf.views.account import safe_next
from ecrf.views.messages import flash_error

bp = Blueprint("queries", __name__)
bp.url_value_preprocessor(page_scope)

FILTERS = ("site", "subject", "event", "form", "state", "origin")


@bp.get("/studies/<study>/queries")
@login_required
def index(study: str):
    user, runtime = g.user, g.runtime
    filters = {k: request.args.get(k) or None for k in FILTERS}
    min_age = request.args.get("min_age", type=int)
    page = service.query_page(runtime, user, request.args.get("page", type=int), min_age=min_age, **filters)
    kept = {k: v for k, v in request.args.items() if k != "page" and v}  # the filters, for the page links
    return render_template("queries.html", study=runtime, queries=page.items, page=page, filters=filters,
                           min_age=min_age, page_href=lambda n: url_for("queries.index", study=study, page=n, **kept))


def _back(study: str) -> str:
    return safe_next(request.form.get("next"), url_for("queries.index", study=study))


@bp.post("/studies/<study>/queries")
@login_required
def raise_query(study: str):
    if not FlaskForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(_back(study))
    try:
        item = request.form.get("item")
        text = request.form.get(f"text:{item}", request.form.get("text"))
        service.raise_query(g.runtime, g.user, request.form.get("subject"), request.form.get("event"),
                            request.form.get("form"), item, text)
    except Locked:
        raise  # a lock is answered 423 with its own page, as the API answers it
    except DomainError as error:
        flash_error(error)
    else:
        flash("Query raised", "success")
    return redirect(_back(study))


ACTIONS = {"reply": service.reply, "close": service.close, "reopen": service.reopen}
DONE = {"reply": N_("Answer sent"), "close": N_("Query closed"), "reopen": N_("Query reopened")}  # base.html translates


@bp.post("/studies/<study>/queries/<query_id>/<action>")
@login_required
def act(study: str, query_id: str, action: str):
    if action not in ACTIONS or not FlaskForm().validate_on_submit():
        flash("The form expired or the action is unknown; try again.", "error")
        return redirect(_back(study))
    try:
        ACTIONS[action](g.runtime, g.user, query_id, request.form.get("text") or None)
    except Locked:
        raise  # a lock is answered 423 with its own page, as the API answers it
    except DomainError as error:
        flash_error(error)
    else:
        flash(DONE[action], "success")
    return redirect(_back(study))
