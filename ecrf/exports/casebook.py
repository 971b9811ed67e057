"""A subject's complete casebook as PDF (ReportLab): every form as entered, derived values, queries
with their threads, the audit trail and the signatures — the archive copy for the site."""

from __future__ import annotations

import datetime as dt
from typing import BinaryIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from audit import ROW_ID, utc_now
from ecrf.lifecycle import lifecycle_state
from ecrf.queries import Query
from ecrf.records.document import Record
from ecrf.records.reads import record_history
from ecrf.signatures import SCOPE_NAMES, Signature, subject_signatures
from ecrf.sites import site_timezone
from ecrf.studies import StudyRuntime
from ecrf.subjects import get_subject
from ecrf.text import xml_safe

CJK_FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
_styles = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontSize=8, leading=10)
BODY_CJK = ParagraphStyle("body_cjk", parent=BODY, fontName=CJK_FONT)
H1, H2, H3 = _styles["Title"], _styles["Heading2"], _styles["Heading4"]


def _p(text, style=BODY) -> Paragraph:
    """A paragraph of plain text: line breaks kept, and what no PDF text can hold (data stored before the
    input rules) shown as U+FFFD, as in the other exports."""
    text = xml_safe("" if text is None else str(text))
    if any(ord(ch) > 0x2E80 for ch in text):
        style = BODY_CJK
    return Paragraph(escape(text).replace("\r\n", "\n").replace("\n", "<br/>"), style)


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


def _display(item, value) -> str:
    if value is None:
        return ""
    if item.choices:
        values = value if isinstance(value, list) else [value]
        return "; ".join(f"{v} ({item.choice_label(v)})" for v in values)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return f"{value} {item.unit or ''}".strip()


def _standing(sig: Signature) -> str:
    """What the API says of a signature, in words: ``yes``, or ``no — voided:`` and the event that voided it."""
    return "yes" if sig.standing.valid else f"no — voided: {sig.standing.reason}"


def _signed(sig: Signature, tz) -> str:
    return (f"Electronically signed by {sig.printed_name} ({sig.signer}) on {_when(sig.at, tz)} "
            f"({SCOPE_NAMES[sig.scope]} signature; still valid: {_standing(sig)}). Meaning: “{sig.meaning}”.")


def write_casebook(out: BinaryIO, study: StudyRuntime, user, subject_id: str) -> None:
    """Write the subject's casebook PDF (only subjects the user may see)."""
    subject = get_subject(study, user, subject_id)
    tz = site_timezone(subject.site)
    story = [Paragraph(escape(f"Casebook — {study.name}"), H1),
             _p(f"Study {study.oid} version {study.version} · subject {subject.subject_id} · site {subject.site} · "
                f"status {subject.status}"),
             _p(f"Printed {_when(utc_now(), tz)} by {user.display_name} ({user.username}). "
                "This copy holds every form as entered, derived values, queries and their threads, the audit trail "
                "and the electronic signatures."),
             Spacer(1, 4 * mm)]
    records = {(r["event"], r["form"]): r for r in Record._get_collection().find(
        {"study": study.oid, "subject": subject.subject_id})}
    signatures = subject_signatures(study.oid, subject.subject_id)
    queries: dict[tuple, list] = {}
    for query in Query.objects(study=study.oid, subject=subject.subject_id).order_by("opened_at"):
        queries.setdefault((query.event, query.form), []).append(query)
    for event in study.events:
        saved = [(f, records[(event["oid"], f)]) for f in event["forms"] if (event["oid"], f) in records]
        if not saved:
            continue
        story.append(Paragraph(escape(f"{event['name']} ({event['oid']})"), H2))
        for form_oid, record in saved:
            form = study.forms[form_oid]
            story.append(
                Paragraph(
                    escape(f"{form.title} ({form_oid}) — {lifecycle_state(record)}, version {record['version']}"), H3
                )
            )
            data = record.get("data") or {}
            rows = [["Item", "Label", "Value"]]
            for item in form.items:
                if item.kind == "group":
                    for number, row in enumerate(data.get(item.oid, []), 1):
                        for child in item.children:
                            if child.oid in row:
                                rows.append(
                                    [f"{item.oid}[{number}] {child.oid}", child.title, _display(child, row[child.oid])]
                                )
                        rows.append([f"{item.oid}[{number}] row id", "", row.get(ROW_ID)])
                elif item.oid in data:
                    rows.append(
                        [
                            item.oid,
                            f"{item.title} / {item.labels.get('zh', '')}".rstrip(" /"),
                            _display(item, data[item.oid]),
                        ]
                    )
            for derivation in form.derivations:
                value = (record.get("derived") or {}).get(derivation.oid)
                if value is not None:
                    rows.append([derivation.oid, f"{derivation.spec['title']} (derived)", value])
            story.append(_table(rows, [35 * mm, 70 * mm, 70 * mm]))
            for stamp, label in (("sdv", "Source data verified"), ("frozen", "Frozen"), ("locked", "Locked")):
                if record.get(stamp):
                    story.append(
                        _p(
                            f"{label} by {record[stamp].get('name')} ({record[stamp].get('by')})"
                            f" on {_when(record[stamp].get('at'), tz)}"
                        )
                    )
            for sig in signatures:
                if record["_id"] in sig.heads:
                    story.append(_p(_signed(sig, tz)))
            for query in queries.get((event["oid"], form_oid), []):
                thread = " | ".join(
                    f"{_when(m['at'], tz)} {m['author']} ({m.get('action')}): {m['text']}" for m in query.messages
                )
                story.append(_p(f"Query on {query.item} [{query.origin}, {query.state}]: {thread}"))
            story.append(Spacer(1, 3 * mm))
    if signatures:
        story.append(Paragraph("Signatures", H2))
        rows = [["When", "Signer", "Scope", "Meaning", "Still valid"]]
        for sig in signatures:
            rows.append(
                [
                    _when(sig.at, tz),
                    f"{sig.printed_name} ({sig.signer})",
                    f"{SCOPE_NAMES[sig.scope]} {sig.event or ''} {sig.form or ''}",
                    sig.meaning,
                    _standing(sig),
                ]
            )
        story.append(_table(rows, [32 * mm, 26 * mm, 24 * mm, 45 * mm, 48 * mm]))
    story += [PageBreak(), Paragraph("Audit trail", H2)]
    rows = [["#", "When", "Who", "Action", "Where", "Changes", "Reason"]]
    for event in record_history(study, user, subject.subject_id):
        context = event.get("context") or {}
        changes = "; ".join(f"{c['path']}: {c['old']} → {c['new']}" for c in event.get("changes") or [])
        rows.append(
            [
                event["seq"],
                _when(event["at"], tz),
                event["actor"],
                event["action"],
                f"{context.get('event', '')} {context.get('form', '')}",
                changes,
                event.get("reason") or "",
            ]
        )
    story.append(_table(rows, [8 * mm, 32 * mm, 16 * mm, 18 * mm, 22 * mm, 60 * mm, 24 * mm]))
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


def _footer(subject_id: str):
    def draw(canvas, document):
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(12 * mm, 6 * mm, f"Subject {subject_id} — page {document.page}")
        canvas.restoreState()

    return draw
