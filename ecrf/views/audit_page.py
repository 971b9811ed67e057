"""The subject's audit trail page: filters parsed, a page of the trail read, each event told as sentences.

The page keys (where the next and previous pages start) carry an event's number in the subject's
sequence, so they are signed: a reader who edits one gets 422, never a renumbered trail.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app, g, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from ecrf.audit_sentences import Reader, describe
from ecrf.errors import DomainError, FieldError, Invalid
from ecrf.i18n import current_language, message_text, translate
from ecrf.subject_history import HistoryFilter, HistoryPage, Mark, subject_history
from ecrf.subjects import get_subject

FILTERS = ("event", "form", "item", "actor", "since", "until")
LABELS = {"/event": "Visit", "/form": "Form", "/item": "Item", "/actor": "Who", "/since": "From", "/until": "To",
          "/after": "Next", "/before": "Previous"}


def audit_page(subject_id: str, event: str | None = None, form: str | None = None):
    """The page, or the page with its error summary and 422 when a filter or key is not one it can read.

    ``event`` and ``form`` (from a form page's link) narrow the trail to that form instance.
    """
    args = {name: (request.args.get(name) or "").strip() for name in FILTERS}
    args["event"], args["form"] = event or args["event"], form or args["form"]
    try:
        wanted = _filter(args)
        page = subject_history(g.runtime, g.user, subject_id, wanted, after=_mark("after"), before=_mark("before"))
    except Invalid as refused:
        return _render(subject_id, args, None, refused, event, form), 422
    return _render(subject_id, args, page, None, event, form), 200


def _filter(args: dict) -> HistoryFilter:
    days, faults = {}, []
    for name in ("since", "until"):
        try:
            days[name] = dt.date.fromisoformat(args[name]) if args[name] else None
        except ValueError:
            faults.append(FieldError(f"/{name}", "a date as YYYY-MM-DD"))
    if faults:
        raise Invalid("the dates cannot be read", faults)
    return HistoryFilter(event=args["event"] or None, form=args["form"] or None, item=args["item"] or None,
                         actor=args["actor"] or None, since=days["since"], until=days["until"])


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="audit-page")


def _mark(name: str) -> Mark | None:
    text = request.args.get(name)
    if not text:
        return None
    try:
        return Mark.parse(_signer().loads(text), name)
    except BadSignature:
        raise Invalid(f"{name} is not a page key", [FieldError(f"/{name}", "not a key this page gave")]) from None


def _render(subject_id: str, args: dict, page: HistoryPage | None, refused: DomainError | None,
            event: str | None, form: str | None) -> str:
    runtime, lang = g.runtime, current_language()
    subject = page.subject if page else get_subject(runtime, g.user, subject_id)
    kept = {k: v for k, v in args.items() if v and not (k == "event" and event) and not (k == "form" and form)}
    here = "records.audit" if form else "records.subject_audit"
    place = {"study": runtime.oid, "subject": subject.subject_id, **({"event": event, "form": form} if form else {})}
    rows = []
    if page is not None:
        reader = Reader(lang=lang, words=lambda text: translate(text, lang),
                        message=lambda said: message_text(said, lang), tz=page.tz, names=page.people, rows=page.rows)
        rows = [{"event": e, "number": e["number"], "who": reader.who(e.get("actor")), "where": _where(e, lang),
                 "sentences": describe(_only_item(e, args["item"]), runtime.forms, reader)} for e in page.events]
    signer = _signer()
    return render_template(
        "audit.html", study=runtime, subject=subject, page=page, rows=rows, args=args, fixed_form=form,
        event=runtime.event(event) if event else None, form=runtime.form(form) if form else None,
        tz=page.tz if page else None, refused=refused, labels=LABELS, items=_items(runtime, args["form"], lang),
        visits=[(e["oid"], runtime.label(e, lang)) for e in runtime.events],
        forms=sorted({(oid, f.label(lang)) for oid, f in runtime.forms.items()}, key=lambda f: f[1]),
        people=sorted((page.people if page else {}).items(), key=lambda p: p[1]),
        next_href=url_for(here, **place, **kept, after=signer.dumps(page.after.text())) if page and page.after
        else None,
        prev_href=url_for(here, **place, **kept, before=signer.dumps(page.before.text())) if page and page.before
        else None,
        first_href=url_for(here, **place, **kept),
    )


def _only_item(event: dict, item: str) -> dict:
    """The event telling only the changes of ``item`` (and its rows) when the trail is narrowed to one item."""
    if not item or event.get("action", "").startswith("query_"):
        return event
    changes = [c for c in event.get("changes") or []
               if c.get("path") == item or (c.get("path") or "").startswith(item + "/")]
    return {**event, "changes": changes}


def _where(event: dict, lang: str) -> str:
    context = event.get("context") or {}
    runtime = g.runtime
    form = runtime.forms.get(context.get("form") or "")
    if form is None:
        return translate("Subject", lang)
    visit = next((e for e in runtime.events if e["oid"] == context.get("event")), None)
    return f"{form.label(lang)} · {runtime.label(visit, lang)}" if visit else form.label(lang)


def _items(runtime, form_oid: str, lang: str) -> list[tuple[str, str]]:
    """The item chooser: the chosen form's items, else every form's, each as "Form · Item" by label."""
    forms = [(form_oid, runtime.forms[form_oid])] if form_oid in runtime.forms else sorted(runtime.forms.items())
    return [(f"/{item.oid}", item.label(lang) if form_oid else f"{form.label(lang)} · {item.label(lang)}")
            for _, form in forms for item in form.items]
