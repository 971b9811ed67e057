"""One page per form instance: render, save through the write path, show the audit trail."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from ecrf import lifecycle, signatures
from ecrf.auth import password_check
from ecrf.downloads import casebook_download
from ecrf.errors import DomainError, Locked
from ecrf.i18n import current_language, translate
from ecrf.records.reads import get_record, record_history
from ecrf.records.save import save_record
from ecrf.scope import page_scope
from ecrf.sites import site_timezone
from ecrf.subjects import get_subject
from ecrf.views.formpage import Rejection, filled_form, form_page_context, invalid_form, refused_save
from ecrf.views.messages import flash_error
from ecrf.webforms import form_class, form_to_data

bp = Blueprint("records", __name__)
bp.url_value_preprocessor(page_scope)

PAGE = "/studies/<study>/subjects/<subject>/events/<event>/forms/<form>"


def _row_action(wtform, name: str) -> bool:
    """Handle the add/remove row buttons; True when the page must be shown again unsaved."""
    add, remove = request.form.get("_add_row"), request.form.get("_remove_row")
    if add and add in wtform and hasattr(wtform[add], "append_entry"):
        wtform[add].append_entry()
        return True
    if remove:
        group, _, index = remove.rpartition("-")
        if group in wtform and index.isdigit() and hasattr(wtform[group], "entries"):
            entries = wtform[group].entries
            if int(index) < len(entries):
                entries.pop(int(index))
        return True
    return False


@bp.route(PAGE, methods=["GET", "POST"])
@login_required
def page(study: str, subject: str, event: str, form: str):
    """Show the form, or save what was submitted through the write path and come back to it.

    :raise 404: unknown subject, event or form.
    """
    user, runtime = g.user, g.runtime
    lang = current_language()
    found = get_subject(runtime, user, subject)
    event_def, compiled = runtime.form_in_event(event, form)
    record = get_record(runtime, user, subject, event, form, subject=found)
    tz = site_timezone(found.site)
    cls = form_class(compiled, lang)
    rejection = Rejection()
    if request.method != "POST":
        wtform = filled_form(cls, compiled, record, tz)
    elif not (wtform := cls()).validate():
        rejection = invalid_form(wtform)
    elif not _row_action(wtform, form):
        version = wtform.version.data
        try:
            result = save_record(
                runtime, user, subject, event, form, form_to_data(compiled, wtform, tz),
                int(version) if version and version.isdigit() else None, wtform.reason.data,
            )
        except DomainError as exc:
            rejection = refused_save(exc, compiled, wtform)
        else:
            flash(translate("Saved", lang) if result.changed else translate("No changes", lang), "success")
            return redirect(url_for("records.page", study=study, subject=subject, event=event, form=form))
    context = form_page_context(runtime, user, found, event_def, compiled, record, wtform, rejection, tz)
    return render_template("record.html", **context.template_values()), rejection.status


@bp.get(PAGE + "/audit")
@login_required
def audit(study: str, subject: str, event: str, form: str):
    found = get_subject(g.runtime, g.user, subject)
    event_def, compiled = g.runtime.form_in_event(event, form)
    events = record_history(g.runtime, g.user, subject, event, form)
    return render_template("audit.html", study=g.runtime, subject=found, events=events, event=event_def,
                           form=compiled, tz=site_timezone(found.site), item=request.args.get("item"))


@bp.get("/studies/<study>/subjects/<subject>/casebook.pdf")
@login_required
def casebook(study: str, subject: str):
    """Download the subject's casebook PDF from the subject page."""
    return casebook_download(g.runtime, g.user, subject)


@bp.get("/studies/<study>/subjects/<subject>/audit")
@login_required
def subject_audit(study: str, subject: str):
    found = get_subject(g.runtime, g.user, subject)
    events = record_history(g.runtime, g.user, subject)
    return render_template("audit.html", study=g.runtime, subject=found, events=events, event=None,
                           form=None, tz=site_timezone(found.site), item=None)



def _record_actions(runtime, user, subject: str, event: str, form: str) -> dict:
    """What each review or lock button on a form page does, and what it then says."""
    locks = lambda kind, on: lambda: lifecycle.set_lock(  # noqa: E731
        runtime, user, kind, on, subject_id=subject, event=event, form=form, reason=request.form.get("reason") or None)
    sign = lambda scope_form: lambda: signatures.sign(  # noqa: E731
        runtime, user, request.form.get("password"), subject_id=subject, event=event, form=scope_form,
        check_password=password_check())
    return {
        "sdv": (lambda: lifecycle.verify(runtime, user, subject, event, form), "Verified"),
        "sign": (sign(form), "Signed"),
        "sign-visit": (sign(None), "Visit signed"),
        "lock": (locks("locked", True), "Locked"),
        "unlock": (locks("locked", False), "Unlocked"),
        "freeze": (locks("frozen", True), "Frozen"),
        "unfreeze": (locks("frozen", False), "Unfrozen"),
    }


@bp.post(PAGE + "/do/<action>")
@login_required
def act(study: str, subject: str, event: str, form: str, action: str):
    """SDV, signature (password re-entered), lock, unlock (reason), freeze or unfreeze from the form page."""
    back = url_for("records.page", study=study, subject=subject, event=event, form=form)
    actions = _record_actions(g.runtime, g.user, subject, event, form)
    if not FlaskForm().validate_on_submit() or action not in actions:
        flash("The form expired; try again.", "error")
        return redirect(back)
    run, done = actions[action]
    try:
        run()
    except Locked:
        raise  # a lock is answered 423 with its own page, as the API answers it
    except DomainError as error:
        flash_error(error)
    else:
        flash(done, "success")
    return redirect(back)
