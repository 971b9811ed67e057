"""The coding queue: verbatim terms waiting for a coder, coded to the dictionary or queried back to the site."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from ecrf.coding import codings as service
from ecrf.coding.dictionary import dictionary
from ecrf.errors import DomainError, Locked
from ecrf.i18n import N_
from ecrf.scope import page_scope
from ecrf.views.messages import flash_error

bp = Blueprint("coding", __name__)
bp.url_value_preprocessor(page_scope)


@bp.get("/studies/<study>/coding")
@login_required
def index(study: str):
    queue = service.coding_queue(g.runtime, g.user)
    return render_template("coding.html", study=g.runtime, queue=queue, dictionary=dictionary("CTCAE"))


ACTIONS = {"code": (service.code_term, "code", N_("Term coded")),
           "query": (service.query_term, "text", N_("Query sent to the site"))}


@bp.post("/studies/<study>/coding/<action>")
@login_required
def act(study: str, action: str):
    if action not in ACTIONS or not FlaskForm().validate_on_submit():
        flash("The form expired or the action is unknown; try again.", "error")
        return redirect(url_for("coding.index", study=study))
    call, field, done = ACTIONS[action]
    try:
        call(g.runtime, g.user, request.form.get("coding"), request.form.get(field))
    except Locked:
        raise  # a lock is answered 423 with its own page, as the queries' pages do
    except DomainError as error:
        flash_error(error)
    else:
        flash(done, "success")
    return redirect(url_for("coding.index", study=study))
