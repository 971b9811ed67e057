"""A subject's complete casebook as PDF (ReportLab): every form as entered, derived values, queries
with their threads, the audit trail and the signatures — the archive copy for the site."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import BinaryIO

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from audit import utc_now
from ecrf.audit_sentences import Reader, describe, item_label, row_numbers
from ecrf.exports.pdf_fonts import pdf_fonts
from ecrf.lifecycle import lifecycle_state
from ecrf.queries import Query
from ecrf.records.document import Record
from ecrf.records.reads import record_history
from ecrf.signatures import SCOPE_NAMES, Signature, subject_signatures
from ecrf.sites import site_timezone
from ecrf.studies import StudyRuntime
from ecrf.subjects import get_subject
from ecrf.text import xml_safe
from ecrf.users import User

FONTS = pdf_fonts()
_styles = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontName=FONTS.latin, fontSize=8, leading=10)
H1, H2, H3 = (ParagraphStyle(f"casebook_{name}", parent=_styles[name], fontName=FONTS.bold)
              for name in ("Title", "Heading2", "Heading4"))
Words = Callable[[str], str]


def _same(text: str) -> str:
    return text


def _p(text, style=BODY) -> Paragraph:
    """A paragraph of plain text: line breaks kept, Chinese in the Chinese font, and what no PDF text can hold
    (data stored before the input rules) shown as U+FFFD, as in the other exports."""
    text = xml_safe("" if text is None else str(text)).replace("\r\n", "\n")
    return Paragraph(FONTS.markup(text).replace("\n", "<br/>"), style)


def _when(value: dt.datetime, tz) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return f"{value.astimezone(tz):%Y-%m-%d %H:%M} {tz.key} ({value.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC)"


def _table(rows: list[list], widths: list[float]) -> Table:
    # splitInRow: a row taller than a page (a 4,000-character comment) goes on over the next page.
    table = Table([[c if isinstance(c, Paragraph) else _p(c) for c in row] for row in rows], colWidths=widths,
                  repeatRows=1, splitInRow=1)
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eceff1")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0bec5")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table


def _display(item, value, lang: str, words: Words) -> str:
    """A value as the reader reads it: the choice label in their language, Yes/No, the unit."""
    if value is None:
        return ""
    if item.choices:
        values = value if isinstance(value, list) else [value]
        return "; ".join(item.choice_label(v, lang) for v in values)
    if isinstance(value, bool):
        return words("Yes" if value else "No")
    return f"{value} {item.unit or ''}".strip()


def _standing(sig: Signature, words: Words) -> str:
    """What the API says of a signature, in words: ``yes``, or ``no — voided:`` and the event that voided it."""
    return words("yes") if sig.standing.valid else f"{words('no — voided')}: {sig.standing.reason}"


def _signed(sig: Signature, tz, words: Words) -> str:
    return (f"Electronically signed by {sig.printed_name} ({sig.signer}) on {_when(sig.at, tz)} "
            f"({SCOPE_NAMES[sig.scope]} signature; still valid: {_standing(sig, words)}). Meaning: “{sig.meaning}”.")


def _item_rows(form, data: dict, lang: str, words: Words) -> list[list]:
    """Label and value of each entered item; a repeating group's rows by number (their ids stay inside)."""
    rows = [[words("Item"), words("Value")]]
    for item in form.items:
        if item.kind == "group":
            for number, row in enumerate(data.get(item.oid, []), 1):
                for child in item.children:
                    if child.oid in row:
                        rows.append([f"{item.label(lang)} {number} · {child.label(lang)}",
                                     _display(child, row[child.oid], lang, words)])
        elif item.oid in data:
            rows.append([item.label(lang), _display(item, data[item.oid], lang, words)])
    return rows


def write_casebook(out: BinaryIO, study: StudyRuntime, user, subject_id: str, lang: str = "en",
                   words: Words = _same, message: Callable[[dict], str] | None = None) -> None:
    """Write the subject's casebook PDF (only subjects the user may see) for a reader of ``lang``.

    ``words`` gives an interface word in that language and ``message`` a query message (the caller's
    catalogs; English as stored without them): labels, choices, Yes/No and the audit trail's sentences
    are the reader's, as on the pages.
    """
    subject = get_subject(study, user, subject_id)
    tz = site_timezone(subject.site)
    story = [Paragraph(FONTS.markup(f"{words('Casebook')} — {study.name}"), H1),
             _p(f"Study {study.oid} version {study.version} · subject {subject.subject_id} · site {subject.site} · "
                f"status {words(subject.status)}"),
             _p(f"Printed {_when(utc_now(), tz)} by {user.display_name} ({user.username}). "
                "This copy holds every form as entered, derived values, queries and their threads, the audit trail "
                "and the electronic signatures."),
             Spacer(1, 4 * mm)]
    records = {(r["event"], r["form"]): r for r in Record._get_collection().find(
        {"study": study.oid, "subject": subject.subject_id})}
    history = record_history(study, user, subject.subject_id)
    reader = Reader(lang=lang, words=words, message=message or (lambda said: said.get("text", "")), tz=tz,
                    names=_names(history), rows=row_numbers(records.values()))
    signatures = subject_signatures(study.oid, subject.subject_id)
    queries: dict[tuple, list] = {}
    for query in Query.objects(study=study.oid, subject=subject.subject_id).order_by("opened_at"):
        queries.setdefault((query.event, query.form), []).append(query)
    for event in study.events:
        saved = [(f, records[(event["oid"], f)]) for f in event["forms"] if (event["oid"], f) in records]
        if not saved:
            continue
        story.append(Paragraph(FONTS.markup(study.label(event, lang)), H2))
        for form_oid, record in saved:
            form = study.forms[form_oid]
            story.append(Paragraph(FONTS.markup(
                f"{form.label(lang)} — {words(lifecycle_state(record))}, {words('Version')} {record['version']}"), H3))
            rows = _item_rows(form, record.get("data") or {}, lang, words)
            for derivation in form.derivations:
                value = (record.get("derived") or {}).get(derivation.oid)
                if value is not None:
                    title = derivation.spec.get("x-ecrf-labels", {}).get(lang) or derivation.spec["title"]
                    rows.append([f"{title} ({words('derived')})", words("Yes" if value else "No")
                                 if isinstance(value, bool) else value])
            story.append(_table(rows, [80 * mm, 106 * mm]))
            for stamp, label in (("sdv", "Source data verified"), ("frozen", "Frozen"), ("locked", "Locked")):
                if record.get(stamp):
                    story.append(
                        _p(
                            f"{words(label)}: {record[stamp].get('name')} ({record[stamp].get('by')})"
                            f" {_when(record[stamp].get('at'), tz)}"
                        )
                    )
            for sig in signatures:
                if record["_id"] in sig.heads:
                    story.append(_p(_signed(sig, tz, words)))
            for query in queries.get((event["oid"], form_oid), []):
                thread = " | ".join(
                    f"{_when(m['at'], tz)} {reader.who(m['author'])}: {reader.message(m)}" for m in query.messages
                )
                story.append(_p(f"{words('query')} · {item_label(query.item, form, reader)} "
                                f"[{words(query.origin)}, {words(query.state)}]: {thread}"))
            story.append(Spacer(1, 3 * mm))
    if signatures:
        story.append(Paragraph(FONTS.markup(words("Signatures")), H2))
        rows = [[words("When"), words("Signer"), words("Scope"), words("Meaning"), words("Still valid")]]
        for sig in signatures:
            rows.append(
                [
                    _when(sig.at, tz),
                    f"{sig.printed_name} ({sig.signer})",
                    f"{words(SCOPE_NAMES[sig.scope])} {sig.event or ''} {sig.form or ''}",
                    sig.meaning,
                    _standing(sig, words),
                ]
            )
        story.append(_table(rows, [32 * mm, 26 * mm, 24 * mm, 45 * mm, 48 * mm]))
    story += [PageBreak(), Paragraph(FONTS.markup(words("Audit trail")), H2)]
    rows = [["#", words("When"), words("Who"), words("Action")]]
    for number, event in enumerate(history, 1):
        rows.append([number, _when(event["at"], tz), reader.who(event.get("actor")),
                     "\n".join(describe(event, study.forms, reader))])
    story.append(_table(rows, [10 * mm, 42 * mm, 24 * mm, 110 * mm]))
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"Casebook {subject.subject_id}",
        author="eCRF engine",
    )
    document.build(story, onFirstPage=_footer(subject.subject_id), onLaterPages=_footer(subject.subject_id))


def _names(history: list[dict]) -> dict[str, str]:
    actors = sorted({e.get("actor") for e in history if e.get("actor")})
    return {u["_id"]: u.get("full_name") or u["_id"]
            for u in User._get_collection().find({"_id": {"$in": actors}}, {"full_name": 1})}


def _footer(subject_id: str):
    def draw(canvas, document):
        canvas.saveState()
        canvas.setFont(FONTS.latin, 7)
        canvas.drawString(12 * mm, 6 * mm, f"Subject {subject_id} — page {document.page}")
        canvas.restoreState()

    return draw
