"""Query pages: the filtered, aged list, and the actions on a thread (raise, answer, close, reopen)."""

from __future__ import annotations

import io

from flask import Blueprint, flash, g, redirect, render_template, request, send_file, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from ecrf import queries as service
from ecrf.errors import DomainError, Locked
from ecrf.i18n import N_, current_language, message_text, translate
from ecrf.query_list import choosers, labels_for, write_csv
from ecrf.roles import Action, may
from ecrf.scope import page_scope
from ecrf.views.account import safe_next
from ecrf.views.messages import flash_error

bp = Blueprint("queries", __name__)
bp.url_value_preprocessor(page_scope)

FILTERS = ("site", "subject", "event", "form", "item", "origin")
STATE_CHOICES = ("open", "answered", "closed", "not_applicable")
ALL_STATES = "all"  # the state chooser's "every state"; no state chosen means the queries still to work on


def list_filters(args) -> tuple[dict, int | None]:
    """The service's filters and minimum age from the page's choosers (closed queries only when asked for)."""
    filters = {k: args.get(k) or None for k in FILTERS}
    state = args.get("state") or None
    filters["state"] = None if state == ALL_STATES else [state] if state else list(service.OPEN_STATES)
    return filters, args.get("min_age", type=int)


@bp.get("/studies/<study>/queries")
@login_required
def index(study: str):
    user, runtime = g.user, g.runtime
    filters, min_age = list_filters(request.args)
    page, counts = service.query_overview(runtime, user, request.args.get("page", type=int), min_age=min_age,
                                          **filters)
    labels = labels_for(runtime, current_language())
    kept = {k: v for k, v in request.args.items() if k != "page" and v}  # the filters, for the page links
    return render_template(
        "queries.html", study=runtime, queries=page.items, page=page, labels=labels, min_age=min_age,
        chosen={k: request.args.get(k) or "" for k in (*FILTERS, "state")}, states=STATE_CHOICES,
        counts=counts,
        options=choosers(runtime, user, labels, site=filters["site"], form=filters["form"]),
        can={"answer": may(user.role, Action.ANSWER_QUERIES), "manage": may(user.role, Action.MANAGE_QUERIES)},
        csv_href=url_for("queries.download", study=study, **kept),
        state_href=lambda s: url_for("queries.index", study=study, **{**kept, "state": s}),
        page_href=lambda n: url_for("queries.index", study=study, page=n, **kept))


@bp.get("/studies/<study>/queries.csv")
@login_required
def download(study: str):
    """The list under the page's filters, every page of it, as CSV (UTF-8 with a BOM, which Excel needs)."""
    filters, min_age = list_filters(request.args)
    lang = current_language()
    found = service.query_documents(g.runtime, g.user, min_age=min_age, **filters)
    text = io.StringIO()
    write_csv(text, found, labels_for(g.runtime, lang), lambda message: message_text(message, lang))
    return send_file(io.BytesIO(text.getvalue().encode("utf-8-sig")), mimetype="text/csv", as_attachment=True,
                     download_name=f"queries-{g.runtime.oid}.csv")


@bp.post("/studies/<study>/queries/bulk")
@login_required
def bulk(study: str):
    """Answer or close the ticked queries with one comment; says how many moved and which did not, and why."""
    if not FlaskForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(_back(study))
    lang = current_language()
    action = request.form.get("bulk_action")
    try:
        outcome = service.act_on_many(g.runtime, g.user, action, request.form.getlist("ids"),
                                      request.form.get("text"))
    except DomainError as error:
        flash_error(error, BULK_LABELS)
        return redirect(_back(study))
    if outcome.done:
        flash(translate(BULK_DONE[action], lang) % {"n": len(outcome.done)}, "success")
    if outcome.failed:
        labels = labels_for(g.runtime, lang)
        said = "; ".join(f"{_named(qid, labels)}: {error.detail}" for qid, error in outcome.failed)
        flash(translate("%(n)s queries were not changed", lang) % {"n": len(outcome.failed)} + f" — {said}",
              "warning" if outcome.done else "error")
    return redirect(_back(study))


BULK_LABELS = {"/ids": N_("Queries"), "/text": N_("Comment"), "/action": N_("Action")}
BULK_DONE = {"reply": N_("%(n)s queries answered"), "close": N_("%(n)s queries closed")}


def _named(query_id: str, labels) -> str:
    """A query as a person knows it (subject, visit, form, item by label); its id when the user may not see it."""
    try:
        query = service.get_query(g.runtime, g.user, query_id)
    except DomainError:
        return query_id
    return (f"{query.subject} · {labels.event(query.event)} · {labels.form(query.form)} · "
            f"{labels.item(query.form, query.item)}")


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
