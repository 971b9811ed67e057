"""The inbox page (with the unread count the header shows), opening and marking items read, and preferences."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from pymongo.errors import PyMongoError

from ecrf.errors import DomainError
from ecrf.notifications import inbox
from ecrf.notifications.kinds import KINDS, LABELS
from ecrf.notifications.preferences import DELIVERIES, check_choices, choices, set_choices
from ecrf.scope import page_scope
from ecrf.users import normalised_email, set_email
from ecrf.views.messages import flash_error

bp = Blueprint("notifications", __name__)
DELIVERY_LABELS = {"inbox": "Inbox only", "email": "E-mail at once", "digest": "Daily digest e-mail"}
bp.url_value_preprocessor(page_scope)


@bp.app_context_processor
def _unread() -> dict:
    # A function, so that only pages that show the header ask the database.
    return {"unread_notifications": _unread_count}


def _unread_count() -> int:
    if not current_user.is_authenticated:
        return 0
    try:
        return inbox.unread_count(current_user.username)
    except PyMongoError:  # the page saying the database is unavailable must still render
        return 0


def target(item: inbox.Notification) -> str:
    """Where an item leads: its record's page, else its subject's."""
    if item.event and item.form:
        return url_for("records.page", study=item.study, subject=item.subject, event=item.event, form=item.form) \
            + (f"#{item.item}" if item.item and item.item.startswith("/") else "")
    return url_for("subjects.detail", study=item.study, subject=item.subject)


@bp.get("/notifications")
@login_required
def index():
    unread_only = request.args.get("unread") == "1"
    page = inbox.inbox_page(g.user.username, request.args.get("page", type=int), unread_only=unread_only)
    return render_template("notifications.html", page=page, labels=LABELS, unread_only=unread_only,
                           page_href=lambda n: url_for("notifications.index", page=n,
                                                       **({"unread": "1"} if unread_only else {})))


@bp.get("/notifications/<path:key>")
@login_required
def open_item(key: str):
    item = inbox.get_notification(g.user.username, key)
    if not item.read:
        inbox.mark_read(g.user.username, [item.key])
    return redirect(target(item))


@bp.post("/notifications/read")
@login_required
def read():
    if not FlaskForm().validate_on_submit():
        flash("The form expired; try again.", "error")
    else:
        try:
            everything = request.form.get("all") == "1"
            inbox.mark_read(g.user.username, request.form.getlist("id"), everything=everything)
        except DomainError as error:
            flash_error(error)
        else:
            flash("Marked as read", "success")
    return redirect(url_for("notifications.index"))


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def preferences():
    user = g.user
    if request.method == "POST":
        if not FlaskForm().validate_on_submit():
            flash("The form expired; try again.", "error")
            return redirect(url_for("notifications.preferences"))
        try:
            email = normalised_email(request.form.get("email"))
            wanted = check_choices({kind: request.form.get(f"kind:{kind}") for kind in KINDS})
            set_choices(user.username, wanted)
            if email != user.email:
                set_email(user.username, email, user.username)
        except DomainError as error:
            flash_error(error)
        else:
            flash("Preferences saved", "success")
            return redirect(url_for("notifications.preferences"))
    return render_template("notification_preferences.html", email=user.email or "", chosen=choices(user.username),
                           labels=LABELS, deliveries=DELIVERIES, delivery_labels=DELIVERY_LABELS)
