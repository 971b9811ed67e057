"""WTForms classes built from form definitions, cached by definition hash and language.

WTForms parses and renders; the write path validates. A value the browser
sends is turned into the same JSON the API takes, so both share one path.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget, NumberInput

from audit import ROW_ID
from ecrf.definitions import CompiledForm, Item
from ecrf.i18n import translate


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _code(value: Any) -> str:
    return str(value)


def _field(item: Item, lang: str):
    label = item.label(lang)
    kwargs = {"label": label, "validators": [Optional()], "description": item.help_text(lang)}
    kind = item.kind
    if kind == "text":
        return StringField(**kwargs)
    if kind == "textarea":
        return TextAreaField(**kwargs)
    if kind == "integer":
        return IntegerField(widget=NumberInput(step=1), **kwargs)
    if kind == "number":
        return DecimalField(places=None, widget=NumberInput(step="any"), **kwargs)
    if kind == "date":
        return DateField(**kwargs)
    if kind == "datetime":
        return DateTimeLocalField(format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"], **kwargs)
    if kind == "time":
        return TimeField(**kwargs)
    if kind == "boolean":
        return RadioField(choices=[("true", translate("Yes", lang)), ("false", translate("No", lang))], **kwargs)
    if kind == "choice":
        choices = [(_code(c.value), c.label(lang)) for c in item.choices]
        if item.schema.get("x-ecrf-widget") == "select" or (
            len(choices) > 6 and item.schema.get("x-ecrf-widget") != "radio"
        ):
            return SelectField(choices=[("", "—")] + choices, **kwargs)
        return RadioField(choices=choices, **kwargs)
    if kind == "multichoice":
        return CheckboxesField(choices=[(_code(c.value), c.label(lang)) for c in item.choices], **kwargs)
    if kind == "group":
        row_fields = {ROW_ID: HiddenField()}
        row_fields.update({child.oid: _field(child, lang) for child in item.children})
        row_form = type(f"Row_{item.oid}", (Form,), row_fields)
        return FieldList(FormField(row_form, label=label), label=label, min_entries=0)
    raise ValueError(f"no field for item kind {kind!r}")


@lru_cache(maxsize=512)
def _form_class(definition_hash: str, lang: str, form: CompiledForm) -> type[FlaskForm]:
    fields = {item.oid: _field(item, lang) for item in form.items}
    fields["version"] = HiddenField()
    fields["reason"] = TextAreaField(validators=[Optional()])
    return type(f"Form_{form.oid}", (FlaskForm,), fields)


def form_class(form: CompiledForm, lang: str) -> type[FlaskForm]:
    """The WTForms class for the form in the language."""
    return _form_class(form.hash, lang, form)


# ------------------------------------------------------------- form data <-> JSON


def _to_json(item: Item, value: Any, tz: zoneinfo.ZoneInfo) -> Any:
    if value is None or value == "" or value == []:
        return None
    kind = item.kind
    if kind == "number" and isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if kind == "integer":
        return int(value)
    if kind == "date":
        return value.isoformat()
    if kind == "datetime":
        return value.replace(tzinfo=tz).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "time":
        return value.strftime("%H:%M")
    if kind == "boolean":
        return {"true": True, "false": False}.get(value)
    if kind == "choice":
        return next((c.value for c in item.choices if _code(c.value) == value), value)
    if kind == "multichoice":
        return [next((c.value for c in item.choices if _code(c.value) == v), v) for v in value]
    return value


def form_to_data(form: CompiledForm, wtform: FlaskForm, tz: zoneinfo.ZoneInfo) -> dict:
    """The JSON data the browser submitted, as the write path takes it."""
    data: dict[str, Any] = {}
    for item in form.items:
        field = wtform[item.oid]
        if item.kind == "group":
            rows = []
            for entry in field.entries:
                row = {ROW_ID: entry.form[ROW_ID].data or None}
                for child in item.children:
                    row[child.oid] = _to_json(child, entry.form[child.oid].data, tz)
                rows.append(row)
            data[item.oid] = rows
        else:
            data[item.oid] = _to_json(item, field.data, tz)
    return data


def _to_form(item: Item, value: Any, tz: zoneinfo.ZoneInfo) -> Any:
    if value is None:
        return None
    kind = item.kind
    try:
        if kind == "date":
            return dt.date.fromisoformat(value)
        if kind == "datetime":
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.astimezone(tz).replace(tzinfo=None) if parsed.tzinfo else parsed
        if kind == "time":
            return dt.time.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if kind == "number":
        return Decimal(str(value))
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "choice":
        return _code(value)
    if kind == "multichoice":
        return [_code(v) for v in value]
    return value


def data_to_form(form: CompiledForm, data: dict, tz: zoneinfo.ZoneInfo) -> dict:
    """Stored JSON data as WTForms ``data=`` for pre-filling the page."""
    prefill: dict[str, Any] = {}
    for item in form.items:
        value = data.get(item.oid)
        if item.kind == "group":
            prefill[item.oid] = [
                {ROW_ID: row.get(ROW_ID), **{c.oid: _to_form(c, row.get(c.oid), tz) for c in item.children}}
                for row in value or []
            ]
        elif value is not None:
            prefill[item.oid] = _to_form(item, value, tz)
    return prefill


def field_name(form: CompiledForm, wtform: FlaskForm, pointer: str) -> str | None:
    """The WTForms field that a JSON pointer such as ``/AE/r1a2b/AETERM`` names."""
    parts = pointer.strip("/").split("/")
    if not parts or parts[0] not in form.item_by_oid:
        return None
    if len(parts) == 1:
        return parts[0]
    field = wtform[parts[0]]
    for index, entry in enumerate(getattr(field, "entries", [])):
        if entry.form[ROW_ID].data == parts[1] and len(parts) > 2:
            return f"{parts[0]}-{index}-{parts[2]}"
    return parts[0]
