"""Audit events told as sentences in the reader's language: item labels, Yes/No, choice labels, site times.

"Dr Li changed Platelets from 45 to 54 ×10⁹/L (reason: transcription error)". Pure: the caller hands in
how the reader's words are found (``Reader.words``, the interface catalogs), so this module needs neither
Flask nor a request, and the HTML page and the casebook PDF tell an event the same way.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from audit import unescape_token


@dataclass(frozen=True)
class Reader:
    """Who reads: their language, how interface words and query messages reach it, their site's zone.

    ``names`` maps usernames to printed names; ``rows`` maps a repeating row's id to its number (from 1)
    in the current record, so that no internal id is shown.
    """

    lang: str
    words: Callable[[str], str]
    message: Callable[[dict], str]
    tz: zoneinfo.ZoneInfo = zoneinfo.ZoneInfo("UTC")
    names: Mapping[str, str] = field(default_factory=dict)
    rows: Mapping[str, int] = field(default_factory=dict)

    def say(self, template: str, **values: Any) -> str:
        """``template`` in the reader's language with ``values`` put in its ``{name}`` places."""
        return self.words(template).format(**values)

    def who(self, actor: str | None) -> str:
        if not actor or actor == "system":
            return self.words("The system")
        return self.names.get(actor) or actor


def describe(event: dict, forms: Mapping[str, Any], reader: Reader) -> list[str]:
    """The event as one or more sentences (one per changed item of a save), in the reader's language.

    ``forms`` maps form OIDs to compiled forms (for labels, units and choices). An action this module
    does not know is still told: who did it and the action's name.
    """
    action = event.get("action") or ""
    who = reader.who(event.get("actor"))
    form = forms.get((event.get("context") or {}).get("form") or "")
    if action in ("create", "update"):
        sentences = [_change(change, form, who, reader) for change in event.get("changes") or []]
        sentences = sentences or [reader.say("{who} saved the form without changes", who=who)]
    elif action.startswith("query_"):
        sentences = [_query(event, action[len("query_"):], form, who, reader)]
    else:
        sentences = [_lifecycle(event, action, who, reader)]
    reason = event.get("reason")
    if reason:
        sentences[-1] = reader.say("{sentence} (reason: {reason})", sentence=sentences[-1], reason=reason)
    return sentences


def row_numbers(records: Iterable[dict]) -> dict[str, int]:
    """Each repeating row's number (from 1) by its row id, as the records' current data order them."""
    return {row["row_id"]: number for record in records for value in (record.get("data") or {}).values()
            if isinstance(value, list) for number, row in enumerate(value, 1)
            if isinstance(row, dict) and "row_id" in row}


def item_label(pointer: str, form: Any, reader: Reader) -> str:
    """The label a JSON pointer names in ``form``: "Adverse events, row 2: Term"; the pointer when unknown."""
    tokens = [unescape_token(t) for t in pointer.split("/")[1:]]
    item = form.item_by_oid.get(tokens[0]) if form is not None and tokens else None
    if item is None:
        return pointer
    label = item.label(reader.lang)
    if len(tokens) == 1 or item.kind != "group":
        return label
    number = reader.rows.get(tokens[1])
    row = reader.say("{group}, row {number}", group=label, number=number) if number else reader.say(
        "{group}, a removed row", group=label)
    child = next((c for c in item.children if c.oid == tokens[2]), None) if len(tokens) > 2 else None
    return f"{row}: {child.label(reader.lang) if child else tokens[2]}" if len(tokens) > 2 else row


def item_of(pointer: str, form: Any) -> Any:
    """The item (or a row's child item) a JSON pointer names in ``form``; None when it names none."""
    tokens = [unescape_token(t) for t in pointer.split("/")[1:]]
    item = form.item_by_oid.get(tokens[0]) if form is not None and tokens else None
    if item is not None and item.kind == "group" and len(tokens) > 2:
        return next((c for c in item.children if c.oid == tokens[2]), None)
    return item


def value_text(value: Any, item: Any, reader: Reader) -> str:
    """A stored value as the reader reads it: Yes/No, choice labels, the unit, date-times at the site."""
    if value is None or value == "":
        return reader.words("(empty)")
    if isinstance(value, dict):
        children = {c.oid: c for c in item.children} if item is not None and item.kind == "group" else {}
        return "; ".join(f"{children[k].label(reader.lang) if k in children else k}: "
                         f"{value_text(v, children.get(k), reader)}" for k, v in value.items() if k != "row_id")
    if isinstance(value, bool):
        return reader.words("Yes" if value else "No")
    if item is not None and item.choices:
        values = value if isinstance(value, list) else [value]
        return ", ".join(item.choice_label(v, reader.lang) for v in values)
    if isinstance(value, list):
        rows = item is not None and item.kind == "group"
        return (" | " if rows else ", ").join(value_text(v, item if rows else None, reader) for v in value)
    if item is not None and item.kind == "datetime" and isinstance(value, str):
        return _site_time(value, reader.tz)
    unit = getattr(item, "unit", None) if item is not None else None
    return f"{value} {unit}" if unit and isinstance(value, (int, float)) else str(value)


def _site_time(text: str, tz: zoneinfo.ZoneInfo) -> str:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        return text  # a local time as entered: no zone to convert from
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _change(change: dict, form: Any, who: str, reader: Reader) -> str:
    pointer, old, new = change.get("path") or "", change.get("old"), change.get("new")
    label, item = item_label(pointer, form, reader), item_of(pointer, form)
    if isinstance(new, dict) and old is None:
        return reader.say("{who} added {item}: {new}", who=who, item=label, new=value_text(new, item, reader))
    if isinstance(old, dict) and new is None:
        return reader.say("{who} removed {item} (was {old})", who=who, item=label, old=value_text(old, item, reader))
    if old is None:
        return reader.say("{who} entered {item}: {new}", who=who, item=label, new=value_text(new, item, reader))
    if new is None:
        return reader.say("{who} cleared {item} (was {old})", who=who, item=label, old=value_text(old, item, reader))
    return reader.say("{who} changed {item} from {old} to {new}", who=who, item=label,
                      old=value_text(old, item, reader), new=value_text(new, item, reader))


_QUERY_SENTENCES = {
    "opened": "{who} raised a query on {item}: “{text}”",
    "answered": "{who} answered the query on {item}: “{text}”",
    "closed": "{who} closed the query on {item}",
    "reopened": "{who} reopened the query on {item}: “{text}”",
}


def _query(event: dict, action: str, form: Any, who: str, reader: Reader) -> str:
    changes = event.get("changes") or [{}]
    message = changes[0].get("new") if isinstance(changes[0].get("new"), dict) else {}
    text = reader.message(message) if message else ""
    label = item_label((event.get("context") or {}).get("item") or "", form, reader)
    template = _QUERY_SENTENCES.get(action)
    if template is None:
        template = "{who} moved the query on {item} to “{state}”"
    sentence = reader.say(template, who=who, item=label, text=text,
                          state=reader.words((event.get("state") or {}).get("state") or action))
    if action == "closed" and text:
        sentence += f": “{text}”"
    return sentence


_LIFECYCLE_SENTENCES = {
    "rederive": "{who} recalculated the derived values",
    "recheck": "{who} re-ran the checks",
    "sdv": "{who} verified the form against the source",
    "sdv_items": "{who} verified items against the source",
    "lock": "{who} locked {what}",
    "unlock": "{who} unlocked {what}",
    "freeze": "{who} froze {what}",
    "unfreeze": "{who} unfroze {what}",
    "subject_registered": "{who} registered the subject at site {site}",
}


def _lifecycle(event: dict, action: str, who: str, reader: Reader) -> str:
    state, context = event.get("state") or {}, event.get("context") or {}
    if action == "sign":
        signed = state.get("signature") or {}
        return reader.say("{who} signed {what} (meaning: “{meaning}”)", who=who, what=_what(event, reader),
                          meaning=signed.get("meaning", ""))
    if action == "subject_status":
        change = (event.get("changes") or [{}])[0]
        return reader.say("Subject status changed from {old} to {new}",
                          old=reader.words(change.get("old") or ""), new=reader.words(change.get("new") or ""))
    template = _LIFECYCLE_SENTENCES.get(action)
    if template is None:
        return f"{who}: {reader.words(action)}"
    return reader.say(template, who=who, what=_what(event, reader), site=context.get("site", ""))


def _what(event: dict, reader: Reader) -> str:
    stream = event.get("stream") or ""
    if stream.startswith("record/"):
        return reader.words("the form")
    scope = ((event.get("state") or {}).get("signature") or {}).get("scope")
    return reader.words(_SCOPES.get(scope or "subject", "the casebook"))


_SCOPES = {"record": "the form", "event": "the visit", "subject": "the casebook"}
