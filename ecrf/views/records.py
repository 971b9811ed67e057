"""One page per form instance: render, save through the write path, show the audit trail."""

from __future__ import annotations

import tempfile

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from ecrf import lifecycle
from ecrf.auth import password_check, web_user
from ecrf.errors import DomainError, Locked
from ecrf.exports.casebook import write_casebook
from ecrf.views.messages import flash_error
from ecrf.i18n import current_language, translate
from ecrf.lifecycle import lifecycle_state, signatures_of
from ecrf.queries import record_queries
from ecrf.records import get_record, record_history, save_record
from ecrf.roles import Action, may
from ecrf.sites import site_timezone
from ecrf.studies import study_runtime
from ecrf.subjects import get_subject
from ecrf.webforms import data_to_form, field_name, form_class, form_to_data

bp = Blueprint("records", __name__)

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
    user = web_user()
    lang = current_language()
    runtime = study_runtime(study)
    found = get_subject(runtime, user, subject)
    event_def, compiled = runtime.form_in_event(event, form)
    record = get_record(runtime, user, subject, event, form, subject=found)
    tz = site_timezone(found.site)
    cls = form_class(compiled, lang)
    errors, status, field_errors = [], 200, {}
    if request.method == "POST":
        wtform = cls()
        if not wtform.validate():
            errors = [{"path": f"/{name}", "message": "; ".join(map(str, msgs))}
                      for name, msgs in wtform.errors.items() if name != "csrf_token"]
            field_errors = {name: list(map(str, msgs)) for name, msgs in wtform.errors.items()}
            if "csrf_token" in wtform.errors:
                errors.append({"path": "/", "message": "the form expired; reload the page and try again"})
            status = 400 if "csrf_token" in wtform.errors else 422
        elif not _row_action(wtform, form):
            version = wtform.version.data
            try:
                result = save_record(
                    runtime, user, subject, event, form, form_to_data(compiled, wtform, tz),
                    int(version) if version and version.isdigit() else None, wtform.reason.data,
                )
            except DomainError as exc:
                errors = [e.as_dict() for e in exc.errors] or [{"path": "", "message": exc.detail}]
                status = exc.status
                for error in exc.errors:
                    name = field_name(compiled, wtform, error.path)
                    if name:
                        field_errors.setdefault(name, []).append(error.message)
            else:
                flash(translate("Saved" if result.changed else "No changes", lang), "success")
                return redirect(url_for("records.page", study=study, subject=subject, event=event, form=form))
    else:
        wtform = cls(formdata=None, data=data_to_form(compiled, (record or {}).get("data") or {}, tz))
        wtform.version.data = str((record or {}).get("version", 0))
    item_queries: dict[str, list] = {}
    for query in record_queries(runtime.oid, found.subject_id, event, form, states=("open", "answered", "closed")):
        item_queries.setdefault(query.item, []).append(query)
    item_flags: dict[str, list] = {}
    for flag in (record or {}).get("flags") or []:
        item_flags.setdefault(flag["item"], []).append(flag)
    can = {"answer": may(user.role, Action.ANSWER_QUERIES), "manage": may(user.role, Action.MANAGE_QUERIES),
           "verify": may(user.role, Action.VERIFY), "sign": may(user.role, Action.SIGN), "lock": may(user.role, Action.LOCK)}
    return render_template(
        "record.html", study=runtime, subject=found, event=event_def, form=compiled, wtform=wtform,
        item_queries=item_queries, item_flags=item_flags, can=can,
        record=record, errors=errors, field_errors=field_errors, tz=tz, lifecycle=lifecycle_state(record),
        editable=may(user.role, Action.ENTER_DATA) and not (record or {}).get("locked") and not (record or {}).get("frozen"),
        missing=compiled.missing_items((record or {}).get("data") or {}) if record else [],
        signatures=[s for s in signatures_of(runtime, user, subject) if record and record["_id"] in s.heads],
    ), status


@bp.get(PAGE + "/audit")
@login_required
def audit(study: str, subject: str, event: str, form: str):
    user = web_user()
    runtime = study_runtime(study)
    found = get_subject(runtime, user, subject)
    event_def, compiled = runtime.form_in_event(event, form)
    events = record_history(runtime, user, subject, event, form)
    return render_template("audit.html", study=runtime, subject=found, events=events, event=event_def,
                           form=compiled, tz=site_timezone(found.site), item=request.args.get("item"))


@bp.get("/studies/<study>/subjects/<subject>/casebook.pdf")
@login_required
def casebook(study: str, subject: str):
    """Download the subject's casebook PDF from the subject page."""
    spool = tempfile.TemporaryFile()
    write_casebook(spool, study_runtime(study), web_user(), subject)
    spool.seek(0)
    return send_file(spool, mimetype="application/pdf", as_attachment=True, download_name=f"casebook-{subject}.pdf")


@bp.get("/studies/<study>/subjects/<subject>/audit")
@login_required
def subject_audit(study: str, subject: str):
    user = web_user()
    runtime = study_runtime(study)
    found = get_subject(runtime, user, subject)
    events = record_history(runtime, user, subject)
    return render_template("audit.html", study=runtime, subject=found, events=events, event=None,
                           form=None, tz=site_timezone(found.site), item=None)



def _record_actions(runtime, user, subject: str, event: str, form: str) -> dict:
    """What each review or lock button on a form page does, and what it then says."""
    locks = lambda kind, on: lambda: lifecycle.set_lock(  # noqa: E731
        runtime, user, kind, on, subject_id=subject, event=event, form=form, reason=request.form.get("reason") or None)
    sign = lambda scope_form: lambda: lifecycle.sign(  # noqa: E731
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
    user = web_user()
    runtime = study_runtime(study)
    back = url_for("records.page", study=study, subject=subject, event=event, form=form)
    actions = _record_actions(runtime, user, subject, event, form)
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
