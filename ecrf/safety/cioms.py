"""An SAE report as a CIOMS-I-style PDF (ReportLab), in the reader's language (English or Simplified Chinese).

The four parts of the CIOMS I form: I reaction information, II suspect drug(s), III concomitant drug(s) and
history, IV report information (here: the site, the clock and the signature). Times are the site's, with zone.
"""

from __future__ import annotations

from typing import BinaryIO

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate, Spacer

from audit import utc_now
from ecrf.exports.casebook import BODY, H1, H2, _p, _table, _when
from ecrf.records.document import Record
from ecrf.records.scope import records_by_event, subject_facts
from ecrf.safety.content import CHOICE_LABELS, FIELDS
from ecrf.safety.reports import SUBMIT_MEANING, SaeReport
from ecrf.sites import site_timezone
from ecrf.studies import StudyRuntime
from ecrf.subjects import Subject
from ecrf.trail import record_stream

WORDS = {
    "en": {
        "title": "CIOMS FORM — Suspect adverse reaction report",
        "part1": "I. Reaction information", "part2": "II. Suspect drug(s) information",
        "part3": "III. Concomitant drug(s) and history", "part4": "IV. Report information",
        "subject": "Subject", "site": "Site", "study": "Study", "source": "Recorded in",
        "criteria": "Check all appropriate to adverse reaction", "suspect": "Suspect product", "relation": "Relation",
        "cart": "CD7 CAR-T cells (autologous)", "ld": "Lymphodepletion (fludarabine, cyclophosphamide)",
        "report": "Report", "type": "Report type", "initial": "initial", "followup": "follow-up %s",
        "state": "Status", "due": "Due", "submitted": "Submitted and signed", "acknowledged": "Acknowledged",
        "closed": "Closed", "printed": "Printed", "field": "Field", "value": "Value", "page": "page",
        "reviewer": "Safety reviewer's message", "sex": "Sex", "age": "Age (years, at consent)",
        "birth": "Date of birth",
    },
    "zh": {
        "title": "CIOMS 表 — 可疑不良反应报告",
        "part1": "一、反应信息", "part2": "二、可疑药物信息", "part3": "三、合并用药及病史", "part4": "四、报告信息",
        "subject": "受试者", "site": "中心", "study": "研究", "source": "记录于",
        "criteria": "勾选适用于该不良反应的各项", "suspect": "可疑产品", "relation": "相关性",
        "cart": "CD7 CAR-T 细胞（自体）", "ld": "淋巴细胞清除（氟达拉滨、环磷酰胺）",
        "report": "报告", "type": "报告类型", "initial": "首次报告", "followup": "第 %s 次随访报告",
        "state": "状态", "due": "截止时间", "submitted": "已提交并签名", "acknowledged": "已确认接收",
        "closed": "已关闭", "printed": "打印时间", "field": "项目", "value": "内容", "page": "页",
        "reviewer": "安全审评员留言", "sex": "性别", "age": "年龄（岁，知情同意时）", "birth": "出生日期",
    },
}
# Field labels and coded values in Chinese (English: the field's own label, the code's English word).
ZH = {
    "Reaction / event": "反应/事件", "Seriousness criteria": "严重性标准", "Onset date": "发生日期",
    "Site aware of the event": "研究中心获知时间", "Outcome": "转归",
    "Relation to CAR-T product": "与 CAR-T 产品的相关性",
    "Relation to lymphodepletion": "与淋巴细胞清除的相关性", "Expectedness": "预期性",
    "Treatments and actions taken": "治疗及采取的措施", "Narrative": "病例描述",
    "death": "死亡", "life": "危及生命", "hosp": "住院或住院时间延长", "disab": "残疾或功能丧失", "congen": "先天异常",
    "other": "其他重要医学事件", "not_related": "无关", "unlikely": "可能无关", "possible": "可能有关",
    "probable": "很可能有关", "definite": "肯定有关", "recovered": "痊愈", "recovering": "好转",
    "not_recovered": "未好转", "sequelae": "痊愈伴后遗症", "fatal": "死亡", "unknown": "未知", "expected": "预期",
    "unexpected": "非预期", "draft": "草稿", "submitted": "已提交", "acknowledged": "已确认接收",
    "followup_requested": "已要求随访", "closed": "已关闭", "M": "男", "F": "女",
    SUBMIT_MEANING: "我确认本严重不良事件报告准确、完整",
}
EN = {**CHOICE_LABELS, "followup_requested": "follow-up requested", "M": "Male", "F": "Female"}


def _word(text: str, lang: str) -> str:
    return ZH.get(text, EN.get(text, text)) if lang == "zh" else EN.get(text, text)


def _value(name: str, value, lang: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, list):
        return "; ".join(_word(v, lang) for v in value)
    return _word(value, lang) if isinstance(value, str) and name not in ("event_term", "narrative", "treatments") \
        else str(value)


def patient_facts(study: StudyRuntime, report: SaeReport) -> dict:
    """The study's subject facts (sex, birth date, age at consent) of the report's subject: one read."""
    paths = study.definition.get("subject_facts", {}).values()
    streams = sorted({record_stream(study.oid, report.subject, *path.split(".")[:2]) for path in paths})
    records = Record._get_collection().find({"_id": {"$in": streams}}, {"event": 1, "form": 1, "data": 1})
    return subject_facts(study, Subject(subject_id=report.subject, site=report.site), records_by_event(records))


def write_cioms(out: BinaryIO, study: StudyRuntime, report: SaeReport, lang: str = "en") -> None:
    """Write the report as a CIOMS-I-style PDF in ``lang`` (``en`` or ``zh``); the caller has checked access."""
    lang = lang if lang in WORDS else "en"
    facts = patient_facts(study, report)
    words, tz, data = WORDS[lang], site_timezone(report.site), report.data or {}
    h1, h2 = H1, H2  # the casebook's styles: _p sets each Chinese run in the Chinese font
    style = BODY

    def row(key: str, value) -> list:
        return [_p(key, style), _p(value, style)]

    def field(name: str) -> list:
        label = next(f.label for f in FIELDS if f.name == name)
        return row(_word(label, lang), _value(name, data.get(name), lang))

    head = [_p(words["field"], style), _p(words["value"], style)]
    widths = [55 * mm, 115 * mm]
    criteria = "   ".join(f"[{'X' if c in data.get('seriousness', []) else ' '}] {_word(c, lang)}"
                           for c in ("death", "life", "hosp", "disab", "congen", "other"))
    kind = words["initial"] if report.submissions <= 1 else words["followup"] % (report.submissions - 1)
    story = [
        _p(words["title"], h1),
        _p(f"{words['study']} {report.study} | {words['subject']} {report.subject} | {words['site']} {report.site} | "
           f"{words['report']} {report.report_id}", style),
        Spacer(1, 3 * mm),
        _p(words["part1"], h2),
        _table([head, row(words["subject"], report.subject), row(words["sex"], _value("sex", facts.get("sex"), lang)),
                row(words["birth"], facts.get("birth_date", "")), row(words["age"], facts.get("age", "")),
                field("event_term"), field("onset_date"),
                row(words["criteria"], criteria), field("outcome"), field("narrative"),
                row(words["source"], f"{report.event} / {report.form}" + (f" / {report.row}" if report.row else ""))],
               widths),
        _p(words["part2"], h2),
        _table([[_p(words["suspect"], style), _p(words["relation"], style)],
                row(words["cart"], _value("causality_cart", data.get("causality_cart"), lang)),
                row(words["ld"], _value("causality_ld", data.get("causality_ld"), lang)), field("expectedness")],
               widths),
        _p(words["part3"], h2),
        _table([head, field("treatments")], widths),
        _p(words["part4"], h2),
        _table([head, row(words["type"], kind), row(words["state"], _word(report.state, lang)),
                row(_word("Site aware of the event", lang), _when(report.awareness_at, tz)),
                row(words["due"], _when(report.due_at, tz)),
                row(words["submitted"], _signed(report, tz, lang)),
                row(words["acknowledged"], _when(report.acknowledged_at, tz)),
                row(words["closed"], _when(report.closed_at, tz)),
                row(words["reviewer"], (report.message or {}).get("text", "")),
                row(words["printed"], _when(utc_now(), tz))], widths),
    ]
    document = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=15 * mm,
                                 bottomMargin=15 * mm, title=f"CIOMS {report.report_id}", author="eCRF engine")
    document.build(story)


def _signed(report: SaeReport, tz, lang: str) -> str:
    signature = report.signature or {}
    if not signature:
        return ""
    who = f"{signature.get('name')} ({signature.get('by')})"
    return f"{who}, {_when(signature.get('at'), tz)}: {_word(signature.get('meaning') or '', lang)}"
