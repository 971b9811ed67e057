"""Sign-off pages: casebook sign and lock from the subject page, the study's freeze and lock, the signature worklist."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from ecrf import readiness
from ecrf.auth import password_check
from ecrf.database_lock import get_job, recent_jobs, start_database_lock
from ecrf.errors import DomainError, Locked
from ecrf.i18n import current_language, translate
from ecrf.locks import study_closure
from ecrf.roles import Action, may, require
from ecrf.scope import page_scope
from ecrf.signature_worklist import awaiting_signature
from ecrf.views.messages import flash_error

bp = Blueprint("signoff", __name__)
bp.url_value_preprocessor(page_scope)

SUBJECT = "/studies/<study>/subjects/<subject>"
# What each casebook button does, and what it then says.
CASEBOOK_DONE = {"sign": "Casebook signed", "lock": "Casebook locked", "unlock": "Casebook unlocked",
                 "freeze": "Casebook frozen", "unfreeze": "Casebook unfrozen"}
CASEBOOK_LOCKS = {"lock": ("locked", True), "unlock": ("locked", False), "freeze": ("frozen", True),
                  "unfreeze": ("frozen", False)}
# How many obstacles the study page lists one by one (it counts them all).
STUDY_LIMIT = 50


@bp.app_context_processor
def _awaiting_count() -> dict:
    """For an investigator on a study's page: how many forms, visits and casebooks await their signature (header).

    A function the header calls, counted once per request: fragments rendered on their own (a query panel) never
    pay for it, and the worklist page hands over the count of the lines it read.
    """
    user, runtime = g.get("user"), g.get("runtime")
    if user is None or runtime is None or not may(user.role, Action.SIGN):
        return {}
    return {"awaiting_signature": _count_awaiting}


def _count_awaiting() -> int:
    if "awaiting_count" not in g:
        g.awaiting_count = len(awaiting_signature(g.runtime, g.user))
    return g.awaiting_count


@bp.post(SUBJECT + "/casebook/<action>")
@login_required
def casebook(study: str, subject: str, action: str):
    """Sign (password re-entered), lock, unlock (reason), freeze or unfreeze the casebook from the subject page."""
    back = url_for("subjects.detail", study=study, subject=subject)
    if not FlaskForm().validate_on_submit() or action not in CASEBOOK_DONE:
        flash("The form expired; try again.", "error")
        return redirect(back)
    form = request.form
    try:
        if action == "sign":
            readiness.sign_checked(g.runtime, g.user, form.get("password"), subject_id=subject,
                                   override_reason=form.get("override_reason") or None,
                                   check_password=password_check())
        else:
            kind, on = CASEBOOK_LOCKS[action]
            readiness.lock_checked(g.runtime, g.user, kind, on, subject_id=subject,
                                   reason=form.get("reason") or None,
                                   override_reason=form.get("override_reason") or None)
    except Locked:
        raise  # a lock is answered 423 with its own page, as the API and the form page answer it
    except DomainError as error:
        flash_error(error)
    else:
        flash(translate(CASEBOOK_DONE[action], current_language()), "success")
    return redirect(back)


@bp.route("/studies/<study>/database-lock", methods=["GET", "POST"])
@login_required
def database_lock(study: str):
    """The data manager's freeze and lock of the whole study: what stands against each, and the runs with progress."""
    user, runtime = g.user, g.runtime
    require(user, Action.LOCK)
    if request.method == "POST":
        if not FlaskForm().validate_on_submit():
            flash("The form expired; try again.", "error")
        else:
            try:
                job = start_database_lock(current_app._get_current_object().app_context, runtime, user,
                                          request.form.get("step", ""), request.form.get("reason") or None,
                                          request.form.get("override_reason") or None)
            except DomainError as error:
                flash_error(error)
            else:
                return redirect(url_for("signoff.database_lock_job", study=study, job_id=job.job_id))
    closure = study_closure(runtime.oid)
    found = {step: readiness.obstacles(runtime, user, step) for step in ("freeze", "lock")
             if closure != "locked" and not (step == "freeze" and closure == "frozen")}
    return render_template("database_lock.html", study=runtime, closure=closure, found=found,
                           jobs=recent_jobs(runtime, user), limit=STUDY_LIMIT)


@bp.get("/studies/<study>/database-lock/<job_id>")
@login_required
def database_lock_job(study: str, job_id: str):
    """One freeze or lock of the study: its progress while it runs, then how many records it changed."""
    return render_template("database_lock_job.html", study=g.runtime, job=get_job(g.runtime, g.user, job_id))


@bp.get("/studies/<study>/signatures")
@login_required
def worklist(study: str):
    """What awaits the investigator's signature at their sites: forms, visits and casebooks, with links."""
    lines = awaiting_signature(g.runtime, g.user)
    g.awaiting_count = len(lines)
    return render_template("signature_worklist.html", study=g.runtime, lines=lines)
