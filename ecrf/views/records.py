"""One page per form instance: render, save through the write path, show the audit trail."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from ecrf import lifecycle, readiness
from ecrf import queries as query_service
from ecrf.auth import password_check
from ecrf.downloads import casebook_download
from ecrf.errors import DomainError, FieldError, Invalid, Locked
from ecrf.i18n import current_language, translate
from ecrf.records.reads import get_record
from ecrf.records.save import save_record
from ecrf.roles import Action, may
from ecrf.scope import page_scope
from ecrf.sites import site_timezone
from ecrf.subjects import get_subject
from ecrf.views.audit_page import audit_page
from ecrf.views.formpage import (
    SHOWN_QUERY_STATES,
    Rejection,
    filled_form,
    form_page_context,
    invalid_form,
    refused_save,
)
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

    After a save the ``_then`` button chooses where to go: this form again, the event's next form, or the grid.
    Every fault of a refused save is reported in one round, beside its field and in the summary.

    :raise 404: unknown subject, event or form.
    """
    user, runtime, lang = g.user, g.runtime, current_language()
    found = get_subject(runtime, user, subject)
    event_def, compiled = runtime.form_in_event(event, form)
    record = get_record(runtime, user, subject, event, form, subject=found)
    tz = site_timezone(found.site)
    cls = form_class(compiled, lang)
    rejection = Rejection()
    if request.method != "POST":
        wtform = filled_form(cls, compiled, record, tz)
    elif not (wtform := cls()).validate():
        rejection = invalid_form(wtform, compiled, tz, (record or {}).get("data") or {}, lang)
    elif not _row_action(wtform, form):
        version = wtform.version.data
        try:
            result = save_record(
                runtime, user, subject, event, form, form_to_data(compiled, wtform, tz),
                int(version) if version and version.isdigit() else None, wtform.reason.data,
            )
        except DomainError as exc:
            rejection = refused_save(exc, compiled, wtform, lang)
        else:
            flash(translate("Saved", lang) if result.changed else translate("No changes", lang), "success")
            return redirect(_after_save_url(study, subject, event_def, form))
    context = form_page_context(runtime, user, found, event_def, compiled, record, wtform, rejection, tz, lang)
    return render_template("record.html", **context.template_values()), rejection.status


def _after_save_url(study: str, subject: str, event_def: dict, form: str) -> str:
    """Where the button pressed sends the user after a save: the grid, the next form, or this form again."""
    then = request.form.get("_then")
    if then == "grid":
        return url_for("subjects.detail", study=study, subject=subject)
    forms = list(event_def.get("forms") or [])
    if then == "next" and form in forms and forms.index(form) + 1 < len(forms):
        form = forms[forms.index(form) + 1]
    return url_for("records.page", study=study, subject=subject, event=event_def["oid"], form=form)


QUERY_ACTIONS = {"reply": query_service.reply, "close": query_service.close,
                 "reopen": query_service.reopen}  # and "raise", which names an item, and "confirm", a worded reply
CONFIRMED = "Value confirmed as entered."  # the answer "Confirm value" gives a soft check's query
QUERY_DONE = {"raise": "Query raised", "reply": "Answer sent", "confirm": "Value confirmed",
              "close": "Query closed", "reopen": "Query reopened"}


@bp.post(PAGE + "/query")
@login_required
def query(study: str, subject: str, event: str, form: str):
    """Raise, answer, confirm, close or reopen a query from the form page without losing what was typed there.

    The page's script posts ``_fragment`` and gets back the item's query panel (or the refusal's text and
    status). Without script the whole form is posted and the page comes back with its values unsaved.

    :raise 404: unknown subject, event or form.
    """
    user, runtime, lang = g.user, g.runtime, current_language()
    action, _, target = request.form.get("_query", "").partition(":")
    if action not in QUERY_DONE or not FlaskForm().validate_on_submit():
        return _query_refused(translate("The form expired; reload the page and try again.", lang), 400, study,
                              subject, event, form)
    text = request.form.get(f"text:{action}:{target}") or None
    try:
        if action == "raise":
            query_service.raise_query(runtime, user, subject, event, form, target, text)
        elif action == "confirm":  # stored by its catalog key, so each reader sees it in their language
            query_service.reply(runtime, user, target, CONFIRMED, said={"key": CONFIRMED, "args": {}})
        else:
            QUERY_ACTIONS[action](runtime, user, target, text)
    except DomainError as error:
        return _query_refused(error.detail, error.status, study, subject, event, form)
    if request.form.get("_fragment"):
        return _query_panel(study, subject, event, form)
    flash(translate(QUERY_DONE[action], lang), "success")
    return _unsaved_page(study, subject, event, form, translate("Your entries on this form are not saved yet.", lang))


def _query_refused(message: str, status: int, study: str, subject: str, event: str, form: str):
    if request.form.get("_fragment"):
        return message, status, {"Content-Type": "text/plain; charset=utf-8"}
    flash(message, "error")
    page, _ = _unsaved_page(study, subject, event, form, None)
    return page, status


def _query_panel(study: str, subject: str, event: str, form: str):
    """The query panel of the item named by ``_item``, as the form page shows it."""
    pointer = request.form.get("_item", "")
    shown = [q for q in query_service.record_queries(g.runtime.oid, subject, event, form, states=SHOWN_QUERY_STATES)
             if q.item == pointer]
    can = {"answer": may(g.user.role, Action.ANSWER_QUERIES), "manage": may(g.user.role, Action.MANAGE_QUERIES)}
    # The panel's buttons post here again: a second action in place (answer, then close) must not post the page.
    return render_template("_query_panel.html", pointer=pointer, queries=shown,
                           ctx={"can": can, "record": True, "here": request.path, "query_url": request.path})


def _unsaved_page(study: str, subject: str, event: str, form: str, notice: str | None):
    """The form page showing the values just posted, unsaved, with ``notice``."""
    user, runtime, lang = g.user, g.runtime, current_language()
    found = get_subject(runtime, user, subject)
    event_def, compiled = runtime.form_in_event(event, form)
    record = get_record(runtime, user, subject, event, form, subject=found)
    tz = site_timezone(found.site)
    wtform = form_class(compiled, lang)()
    context = form_page_context(runtime, user, found, event_def, compiled, record, wtform, Rejection(), tz, lang,
                                notice=notice)
    return render_template("record.html", **context.template_values()), 200


@bp.get(PAGE + "/audit")
@login_required
def audit(study: str, subject: str, event: str, form: str):
    """The subject's audit trail narrowed to one form instance (and ``?item=`` to one item)."""
    g.runtime.form_in_event(event, form)
    return audit_page(subject, event, form)


@bp.get("/studies/<study>/subjects/<subject>/casebook.pdf")
@login_required
def casebook(study: str, subject: str):
    """Download the subject's casebook PDF from the subject page."""
    return casebook_download(g.runtime, g.user, subject)


@bp.get("/studies/<study>/subjects/<subject>/audit")
@login_required
def subject_audit(study: str, subject: str):
    """The subject's audit trail: one sequence, as sentences, filtered by visit, form, item, person and dates."""
    return audit_page(subject)



def _chosen_items() -> list[str]:
    """The items ticked in the form page's SDV panel; 422 when none is."""
    chosen = request.form.getlist("item")
    if not chosen:
        raise Invalid("select at least one item to verify", [FieldError("item", "Select at least one item")])
    return chosen


def _record_actions(runtime, user, subject: str, event: str, form: str) -> dict:
    """What each review or lock button on a form page does, and what it then says."""
    override = lambda: request.form.get("override_reason") or None  # noqa: E731  (read when the action runs)
    locks = lambda kind, on: lambda: readiness.lock_checked(  # noqa: E731
        runtime, user, kind, on, subject_id=subject, event=event, form=form, reason=request.form.get("reason") or None,
        override_reason=override())
    sign = lambda scope_form: lambda: readiness.sign_checked(  # noqa: E731
        runtime, user, request.form.get("password"), subject_id=subject, event=event, form=scope_form,
        override_reason=override(), check_password=password_check())
    return {
        "sdv": (lambda: lifecycle.verify(runtime, user, subject, event, form, required_only=True), "Verified"),
        "sdv-items": (lambda: lifecycle.verify(runtime, user, subject, event, form, _chosen_items()), "Verified"),
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
