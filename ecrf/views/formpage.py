"""What the form page shows: one context built from the record, the reader's rights and the submitted form.

The page view (:mod:`ecrf.views.records`) parses the request and saves through the write path; everything
the ``record.html`` template reads is resolved here, once, so the template computes nothing about the record.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field, fields

from flask_wtf import FlaskForm

from ecrf.coding.codings import record_codings
from ecrf.definitions import CompiledForm, Item
from ecrf.errors import DomainError, FieldError
from ecrf.i18n import message_text, translate
from ecrf.lifecycle import lifecycle_state
from ecrf.queries import record_queries
from ecrf.readiness import review_obstacles
from ecrf.records.normalise import normalise
from ecrf.records.validation import validate
from ecrf.roles import Action, may
from ecrf.signatures import signatures_of
from ecrf.studies import StudyRuntime
from ecrf.study_versions import retired_labels
from ecrf.subjects import Subject
from ecrf.views.sdv import sdv_panel
from ecrf.webforms import data_to_form, field_name, form_to_data

SHOWN_QUERY_STATES = ("open", "answered", "closed")
OPEN_QUERY_STATES = ("open", "answered")


@dataclass
class Rejection:
    """Why a submitted form was not saved: page-level errors, messages by field name, and the status to answer."""

    errors: list[dict] = field(default_factory=list)
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    status: int = 200


def fault_text(fault: FieldError, lang: str) -> str:
    """A write-path fault in the reader's language (its catalog key), else as the write path worded it."""
    return message_text({"key": getattr(fault, "key", ""), "args": getattr(fault, "args", {}), "text": fault.message},
                        lang)


def invalid_form(wtform: FlaskForm, form: CompiledForm, tz: zoneinfo.ZoneInfo, old: dict,
                 lang: str = "en") -> Rejection:
    """Every fault in one round: what WTForms could not parse, and what the write path's validation finds in the rest.

    400 when the CSRF token expired (nothing else can be trusted, nothing else is checked), 422 otherwise.
    """
    if "csrf_token" in wtform.errors:
        expired = translate("The form expired; reload the page and try again.", lang)
        return Rejection([{"path": "/", "message": expired}], {}, 400)
    field_errors = {field.name: list(map(str, field.errors)) for field in _leaves(wtform) if field.errors}
    errors = [{"path": f"/{name}", "message": "; ".join(msgs)} for name, msgs in field_errors.items()]
    for fault in _write_path_faults(form, form_to_data(form, wtform, tz), old):
        name = field_name(form, wtform, fault.path)
        if name and name not in field_errors:
            field_errors.setdefault(name, []).append(fault_text(fault, lang))
            errors.append({"path": fault.path, "message": fault_text(fault, lang)})
    return Rejection(errors, field_errors, 422)


def _leaves(wtform: FlaskForm):
    """Every input field of the page's form, rows' fields included (as ``AE-0-AETERM``)."""
    for top in wtform:
        for entry in getattr(top, "entries", None) or []:
            yield from entry.form
        if not hasattr(top, "entries"):
            yield top


def _write_path_faults(form: CompiledForm, data: dict, old: dict) -> list[FieldError]:
    """The write path's validation of the values WTForms could parse (those it could not are left out)."""
    try:
        return validate(form, normalise(form, data, old))
    except DomainError as refused:
        return list(refused.errors)


def refused_save(error: DomainError, form: CompiledForm, wtform: FlaskForm, lang: str = "en") -> Rejection:
    """The write path's refusal, each fault also shown beside the field its JSON pointer names."""
    faults = [{"path": e.path, "message": fault_text(e, lang)} for e in error.errors]
    rejection = Rejection(faults or [{"path": "", "message": _refusal_text(error, lang)}], status=error.status)
    for fault in error.errors:
        name = field_name(form, wtform, fault.path)
        if name:
            rejection.field_errors.setdefault(name, []).append(fault_text(fault, lang))
    return rejection


REFUSALS = {  # what a refusal without field faults says in a language the engine's English detail is not in
    409: "The form could not be saved: it changed meanwhile or no longer takes this entry. Reload it and try again.",
    423: "The form could not be saved: it is locked.",
}


def _refusal_text(error: DomainError, lang: str) -> str:
    """The refusal's detail in the reader's language: its translation, else what its status means, else as said."""
    translated = translate(error.detail, lang)
    if lang == "en" or translated != error.detail or error.status not in REFUSALS:
        return translated
    return translate(REFUSALS[error.status], lang)


def error_summary(form: CompiledForm, wtform: FlaskForm, rejection: Rejection, lang: str) -> list[dict]:
    """The faults for the summary box, in form order: each item's label, its message and the id of its input."""
    summary = []
    for name, label, target in _fields_in_order(form, wtform, lang):
        summary += [{"label": label, "message": m, "href": f"#{target}"} for m in rejection.field_errors.get(name, [])]
    reason = translate("Reason for change", lang)
    summary += [{"label": reason, "href": "#reason", "message": translate(e["message"], lang)}
                for e in rejection.errors if e.get("path") == "/reason"]
    named = {e["path"] for e in rejection.errors if field_name(form, wtform, e.get("path") or "")}
    summary += [{"label": "", "message": e["message"], "href": None}
                for e in rejection.errors if e.get("path") not in named and e.get("path") != "/reason"]
    return summary


def missing_links(form: CompiledForm, wtform: FlaskForm, missing: list[str], lang: str) -> list[dict]:
    """Each missing required item by its label (a row's as ``Adverse events 1: Grade``) with the id of its place."""
    labels = {name: label for name, label, _ in _fields_in_order(form, wtform, lang)}
    links = []
    for pointer in missing:
        name = field_name(form, wtform, pointer) or pointer.strip("/")
        links.append({"label": labels.get(name, name), "href": f"#item-{name}"})
    return links


def _fields_in_order(form: CompiledForm, wtform: FlaskForm, lang: str):
    """(field name, label, id of its first input) for every field of the page, in the order it shows them."""
    for item in form.items:
        field = wtform[item.oid]
        if item.kind != "group":
            yield item.oid, item.label(lang), _input_id(item, field)
            continue
        yield item.oid, item.label(lang), f"group-{item.oid}"
        for index, entry in enumerate(field.entries):
            for child in item.children:
                sub = entry.form[child.oid]
                yield sub.name, f"{item.label(lang)} {index + 1}: {child.label(lang)}", _input_id(child, sub)


def _input_id(item: Item, field) -> str:
    radios = field.type in ("RadioField", "CheckboxesField")
    return f"{field.id}-0" if radios else field.id


def item_hint(item: Item, lang: str) -> str:
    """What the item accepts, shown before entry: unit, allowed range, format (a pattern's example), length."""
    spec, parts = item.schema, []
    low, high = spec.get("minimum", spec.get("exclusiveMinimum")), spec.get("maximum", spec.get("exclusiveMaximum"))
    unit = f" {item.unit}" if item.unit else ""
    if low is not None and high is not None:
        parts.append(f"{translate('Allowed', lang)} {low}–{high}{unit}")
    elif low is not None:
        parts.append(f"{translate('At least', lang)} {low}{unit}")
    elif high is not None:
        parts.append(f"{translate('At most', lang)} {high}{unit}")
    if spec.get("examples") and spec.get("pattern"):  # dates and times use the browser's own pickers
        parts.append(f"{translate('Format', lang)} {spec['examples'][0]}")
    if spec.get("maxLength"):
        parts.append(translate("Up to {n} characters", lang).replace("{n}", str(spec["maxLength"])))
    return " · ".join(parts)


def flag_text(flag: dict, item: Item | None, derived: dict, lang: str) -> str:
    """A flag as the page says it, e.g. ``H · ref 7–40 U/L · CTCAE grade 2``, or a warning's message."""
    if flag["flag"] not in ("H", "L"):
        message = flag.get("message") or {}
        return message.get(lang) or message.get("en") or flag.get("check") or ""
    unit = f" {item.unit}" if item and item.unit else ""
    low, high = flag.get("low"), flag.get("high")
    ref = f"{'' if low is None else low}–{'' if high is None else high}{unit}"
    text = f"{flag['flag']} · {translate('ref', lang)} {ref}"
    grade = derived.get(f"{item.range_analyte}_GRADE") if item and item.range_analyte else None
    return f"{text} · CTCAE {translate('grade', lang)} {grade}" if grade is not None else text


def _item_at(form: CompiledForm, pointer: str) -> Item | None:
    parts = pointer.strip("/").split("/")
    item = form.item_by_oid.get(parts[0])
    if item is not None and len(parts) > 2:
        return next((child for child in item.children if child.oid == parts[-1]), None)
    return item


def derived_number(value: float) -> str:
    """A derived number as the page shows it: BSA 1.8181 as ``1.82``, a dose of 54.543 mg as ``54.5``, 3e6 cells/kg as
    ``3.00 × 10⁶``. Display only: the stored value keeps its precision and every calculation uses that.
    """
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if abs(value) >= 1e6:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa} × 10{str(int(exponent)).translate(SUPERSCRIPTS)}"
    if 0 < abs(value) < 0.01:
        return f"{value:.2g}"  # two decimals would show it as 0.00
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def derived_texts(form: CompiledForm, derived: dict, lang: str) -> dict[str, str]:
    """Each derivation of the form as the page shows it, by oid: yes/no, a code's label, a rounded number, its unit."""
    texts = {}
    for derivation in form.derivations:
        value = derived.get(derivation.oid)
        if value is None:
            texts[derivation.oid] = "—"
            continue
        if isinstance(value, bool):
            text = translate("Yes", lang) if value else translate("No", lang)
        elif derivation.spec.get("oneOf"):
            text = derivation.choice_label(value, lang)
        elif isinstance(value, list):
            text = ", ".join(map(str, value))
        else:
            text = derived_number(value)
        unit = derivation.spec.get("x-ecrf-unit")
        texts[derivation.oid] = f"{text} {unit}" if unit else text
    return texts


def item_hints(form: CompiledForm, lang: str) -> dict[str, str]:
    """:func:`item_hint` of every item and row item that has one, by oid (rows' items by ``GROUP/ITEM``)."""
    hints = {}
    for item in form.items:
        hints[item.oid] = item_hint(item, lang)
        for child in item.children:
            hints[f"{item.oid}/{child.oid}"] = item_hint(child, lang)
    return {key: hint for key, hint in hints.items() if hint}


def filled_form(cls: type[FlaskForm], form: CompiledForm, record: dict | None, tz: zoneinfo.ZoneInfo) -> FlaskForm:
    """The page's form filled with the saved data and version (blank, version 0, before the first save)."""
    saved = record or {}
    wtform = cls(formdata=None, data=data_to_form(form, saved.get("data") or {}, tz))
    wtform.version.data = str(saved.get("version", 0))
    return wtform


@dataclass(frozen=True)
class FormPage:
    """The form page's template values, each already resolved (the names are the template's)."""

    study: StudyRuntime
    subject: Subject
    event: dict
    form: CompiledForm
    record: dict | None
    wtform: FlaskForm
    errors: list[dict]
    field_errors: dict[str, list[str]]
    tz: zoneinfo.ZoneInfo
    lifecycle: str
    editable: bool
    missing: list[str]
    derived: dict
    derived_texts: dict[str, str]
    signatures: list
    item_queries: dict[str, list]
    item_flags: dict[str, list]
    can: dict[str, bool]
    summary: list[dict] = field(default_factory=list)
    missing_links: list[dict] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # by pointer, retired items' labels from their version
    notice: str | None = None
    next_form: str | None = None
    sdv: dict | None = None  # the per-item SDV panel (ecrf.views.sdv.sdv_panel)
    obstacles: dict[str, list] = field(default_factory=dict)  # what stands against each review step offered

    def template_values(self) -> dict:
        """The values as ``render_template`` keywords (shallow: the runtime and the forms stay objects)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def coding_flag(coding, lang: str) -> dict:
    """A coded term's flag: the dictionary, version, term and code; or that it waits for the coder."""
    if coding.state != "coded":
        text = translate("Waiting for the coder", lang) if coding.state == "uncoded" else translate(
            "Queried by the coder", lang)
        return {"flag": "uncoded", "text": text}
    code = f" · {coding.code}" if coding.code else ""
    return {"flag": "coded", "text": f"{coding.dictionary} {coding.dictionary_version}: {coding.term}{code}"}


def next_form(event: dict, form_oid: str) -> str | None:
    """The form after ``form_oid`` in its event's schedule order (None for the last)."""
    forms = list(event.get("forms") or [])
    at = forms.index(form_oid) if form_oid in forms else len(forms)
    return forms[at + 1] if at + 1 < len(forms) else None


def form_page_context(runtime: StudyRuntime, user, subject: Subject, event: dict, form: CompiledForm,
                      record: dict | None, wtform: FlaskForm, rejection: Rejection, tz: zoneinfo.ZoneInfo,
                      lang: str = "en", notice: str | None = None) -> FormPage:
    """Everything the form page shows for ``record`` (``None`` before the first save) to ``user``."""
    saved = record or {}
    derived_values = saved.get("derived") or {}
    item_queries: dict[str, list] = {}
    for query in record_queries(runtime.oid, subject.subject_id, event["oid"], form.oid, states=SHOWN_QUERY_STATES):
        item_queries.setdefault(query.item, []).append(query)
    item_flags: dict[str, list] = {}
    for flag in saved.get("flags") or []:
        text = flag_text(flag, _item_at(form, flag["item"]), derived_values, lang)
        item_flags.setdefault(flag["item"], []).append({**flag, "text": text})
    for pointer, coding in record_codings(runtime.oid, subject.subject_id, event["oid"], form.oid).items():
        if coding.state != "withdrawn":  # how the term is coded, beside it (the coding queue's work)
            item_flags.setdefault(pointer, []).append(coding_flag(coding, lang))
    can = {
        "answer": may(user.role, Action.ANSWER_QUERIES),
        "manage": may(user.role, Action.MANAGE_QUERIES),
        "verify": may(user.role, Action.VERIFY),
        "sign": may(user.role, Action.SIGN),
        "lock": may(user.role, Action.LOCK),
    }
    missing = form.missing_items(saved.get("data") or {}) if record else []
    signatures = [s for s in signatures_of(runtime, user, subject.subject_id) if record and record["_id"] in s.heads]
    return FormPage(
        study=runtime,
        subject=subject,
        event=event,
        form=form,
        record=record,
        wtform=wtform,
        errors=rejection.errors,
        field_errors=rejection.field_errors,
        tz=tz,
        lifecycle=lifecycle_state(record),
        editable=may(user.role, Action.ENTER_DATA) and not saved.get("locked") and not saved.get("frozen"),
        missing=missing,
        derived=derived_values,
        derived_texts=derived_texts(form, derived_values, lang),
        signatures=signatures,
        item_queries=item_queries,
        item_flags=item_flags,
        can=can,
        summary=error_summary(form, wtform, rejection, lang),
        missing_links=missing_links(form, wtform, missing, lang),
        hints=item_hints(form, lang),
        labels={**retired_labels(runtime.oid, form.oid, saved.get("retired") or {}, lang),
                **{f"/{item.oid}": item.label(lang) for item in form.items}},
        notice=notice,
        next_form=next_form(event, form.oid),
        sdv=sdv_panel(runtime, user, subject, form, record, lang),
        obstacles=review_obstacles(runtime, user, subject.subject_id, event["oid"], form.oid, record),
    )
