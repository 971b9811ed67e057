"""The user's language (English or Simplified Chinese) and the interface's own words.

The words live in gettext catalogs (``ecrf/translations/<lang>/LC_MESSAGES/messages.po``, compiled to ``.mo``)
read by Flask-Babel. ``WORDS`` holds late additions: engineers append blocks at its end, and
``python -m ecrf.i18n_sync`` moves them into the catalogs (a catalog entry wins). Until then ``translate``
still finds them, so a merged branch never shows English where it added Chinese.
"""

from __future__ import annotations

from flask import Flask, request, session
from flask_babel import Babel, force_locale, gettext

LANGUAGES = {"en": "English", "zh": "中文"}

# Late additions waiting for ``python -m ecrf.i18n_sync`` (everything below is already in the zh catalog).
WORDS = {
    "zh": {
        "Sign in": "登录",
        "Sign out": "退出",
        "Username": "用户名",
        "Password": "密码",
        "Signatures": "电子签名",
        "Signer": "签署人",
        "Scope": "范围",
        "Meaning": "含义",
        "Still valid": "仍有效",
        "form": "表单",
        "visit": "访视",
        "casebook": "病例簿",
        "yes": "是",
        "no — voided": "否 — 已失效",
        "Subjects": "受试者",
        "Subject": "受试者",
        "Site": "中心",
        "Status": "状态",
        "Register subject": "登记受试者",
        "Subject ID (optional)": "受试者编号（可选）",
        "Save": "保存",
        "Reason for change": "修改原因",
        "Version": "版本",
        "Derived values": "衍生值",
        "Audit trail": "稽查轨迹",
        "When": "时间",
        "Who": "操作人",
        "Action": "操作",
        "Item": "条目",
        "Old": "原值",
        "New": "新值",
        "Reason": "原因",
        "Add row": "添加行",
        "Remove row": "删除行",
        "Missing required items": "缺少必填条目",
        "complete": "完成",
        "incomplete": "未完成",
        "not_started": "未开始",
        "locked": "已锁定",
        "Saved": "已保存",
        "No changes": "无修改",
        "Nothing saved yet": "尚未保存",
        "Yes": "是",
        "No": "否",
        "Events": "访视",
        "Forms": "表单",
        "Back to subject": "返回受试者",
        "Required": "必填",
        "Please correct the errors below.": "请更正以下错误。",
        "Studies": "研究",
        "Exports": "导出",
        "Start export": "开始导出",
        "Download": "下载",
        "Reports": "报表",
        "Enrollment": "入组",
        "Visits": "访视",
        "Review progress": "审核进度",
        "Safety": "安全性",
        "Efficacy": "有效性",
        "Verified": "已核查",
        "Frozen": "已冻结",
        "Locked": "已锁定",
        "Verify (SDV)": "源数据核查",
        "Sign form": "签署表单",
        "Sign visit": "签署访视",
        "Lock": "锁定",
        "Unlock": "解锁",
        "Freeze": "冻结",
        "Unfreeze": "解冻",
        "Reason for unlock": "解锁原因",
        "verified": "已核查",
        "signed": "已签署",
        "frozen": "已冻结",
        "I attest that I have reviewed the data and it is accurate and complete": "我确认已审阅数据，数据准确完整",
        "Change password": "修改密码",
        "History": "历史",
        "Queries": "质疑",
        "Raise query": "发起质疑",
        "Answer": "回复",
        "Close query": "关闭质疑",
        "Reopen": "重新打开",
        "Filter": "筛选",
        "Days open": "开放天数",
        "Origin": "来源",
        "Last message": "最新消息",
        "Language": "语言",
        "Form": "表单",
        "Event": "访视",
        "Imports": "导入",
        "Import": "导入",
        "File": "文件",
        "Kind": "类型",
        "Event column": "访视列",
        "Subject column": "受试者列",
        "Site column": "中心列",
        "Column map (YAML or JSON)": "列映射（YAML 或 JSON）",
        "All or nothing": "全部或不导入",
        "Preview (dry run)": "预览（试运行）",
        "dry run": "试运行",
        "Started": "开始时间",
        "State": "状态",
        "View": "查看",
        "running": "运行中",
        "done": "完成",
        "failed": "失败",
        "created": "新建",
        "updated": "已更新",
        "unchanged": "未变",
        "refused": "已拒绝",
        "Queries raised": "产生的质疑",
        "Subjects registered": "登记的受试者",
        "Nothing has been written yet.": "尚未写入任何数据。",
        "Confirm import": "确认导入",
        "Refused rows": "被拒绝的行",
        "Line": "行",
        "Rows": "行",
        "Outcome": "结果",
        "new": "新",
        "Nothing was written: a row was refused (all or nothing).": "未写入任何数据：有行被拒绝（全部或不导入）。",
        "Every upload is first a dry run: its preview shows what would be created, changed and refused "
        "before you confirm.":
            "每次上传先试运行：确认前预览将新建、修改和拒绝的内容。",
        "queries": "条质疑",
        "subjects": "名受试者",
        "of": "/",
        "Previous": "上一页",
        "Next": "下一页",
        # --- added by ui-a11y: the header's menu on small screens
        "Main menu": "主菜单", "Menu": "菜单", "Actions": "操作",
        # --- added by ui-form (issue 18): the form page
        "required for a change to saved data": "修改或删除已保存的值时必填", "Allowed": "允许范围",
        "At least": "至少", "At most": "至多", "Format": "格式", "Up to {n} characters": "最多 {n} 个字符",
        "ref": "参考范围", "grade": "分级",
        "The form expired; reload the page and try again.": "表单已过期，请刷新页面后重试。",
        "Query raised": "质疑已发起", "Answer sent": "回复已发送", "Value confirmed": "数值已确认",
        "Query closed": "质疑已关闭", "Query reopened": "质疑已重新打开",
        "Your entries on this form are not saved yet.": "您在此表单中的输入尚未保存。",
        "There is a problem": "存在问题",
        "Needed only when a saved value is changed or removed": "仅在修改或删除已保存的值时需要",
        "Save and next form": "保存并进入下一表单", "Save and return to grid": "保存并返回受试者网格",
        "You have unsaved changes on this form.": "此表单有未保存的更改。",
        "Hiding “{item}” clears its value ({value}); the clearing is kept in the audit trail. Continue?":
            "隐藏“{item}”将清除其值（{value}），清除操作将记录在稽查轨迹中。是否继续？",
        "(empty)": "（空）", "The action failed": "操作失败", "Confirm value": "确认数值",
        "open query": "条未关闭质疑", "open queries": "条未关闭质疑", "query": "质疑", "System": "系统",
        "Manual": "人工", "Open": "待回复", "Answered": "已回复", "Closed": "已关闭",
        "These saved values change:": "以下已保存的值将被修改：",
        "Transcription error": "转录错误", "Data clarification / query answered": "数据澄清 / 已回复质疑",
        "Source document updated": "源文件已更新", "Other": "其他", "Details": "详细说明",
        "Required for “Other”": "选择“其他”时必填",
        "Choose a reason, and describe it when it is “Other”.": "请选择原因；选择“其他”时请说明。",
        "Save with this reason": "以此原因保存", "Cancel": "取消", "Comment (optional)": "备注（可选）",
        "Comment": "备注", "Why reopen?": "重新打开的原因", "Query text": "质疑内容",
        # --- added by ui-grid: the subject grid, its legend and the subject list
        "Not started": "未开始", "Incomplete": "未完成", "Complete": "已完成", "Signed": "已签署",
        "In screening": "筛选中", "Enrolled": "已入组", "Screen failed": "筛选失败",
        "Legend": "图例", "Visit schedule": "访视计划", "day %s": "第%s天", "planned": "计划日期", "window": "窗口期",
        "Open queries": "未关闭质疑", "Progress": "进度",
        "%s of %s forms": "%s / %s 份表单",
        "Casebook (PDF)": "病例簿（PDF）",
        # --- added by reports19: completeness against the schedule and the reports' empty states
        "Completeness against the schedule": "按访视计划的完成度",
        "Forms expected by today: every form of the screening events, of the other unscheduled-day events once "
        "the subject is enrolled, and of each visit whose window has opened (counted from the infusion). Nothing "
        "is expected after a subject has died or ended the study, nor after screening of a screen failure. "
        "Complete = saved and complete, of the expected forms.":
            "截至今日应完成的表单：筛选访视的全部表单；受试者入组后，其他无研究日的访视的表单；以及窗口期已开始的各访视的表单"
            "（自回输日起计）。受试者死亡或结束研究后、筛选失败者筛选之后，不再要求任何表单。"
            "已完成 = 应完成表单中已保存且完整的表单。",
        "Forms expected by today": "截至今日应完成表单", "complete of expected": "应完成中已完成",
        "Not yet saved": "尚未保存", "and %(n)s more": "等另 %(n)s 份",
        "No subjects registered yet.": "尚无登记的受试者。", "No open queries.": "没有未关闭的质疑。",
        "Shares of the saved forms; for forms expected but not saved, see completeness against the schedule.":
            "以下为已保存表单中的比例；应完成但未保存的表单，请见“按访视计划的完成度”。",
        "complete of saved": "已保存中已完成", "No forms saved yet.": "尚未保存任何表单。",
        "No %(name)s graded yet.": "尚无 %(name)s 分级记录。", "No adverse events reported.": "尚无不良事件报告。",
        "No infused subjects yet: no response to show.": "尚无已回输的受试者：暂无疗效可显示。",
        "No response visits in this study.": "本研究没有疗效评估访视。",
        "No infused subjects yet: no survival to show.": "尚无已回输的受试者：暂无生存数据可显示。",
        "No blood counts with a study day yet.": "尚无可计算研究日的血常规结果。",
    }
}


def current_language() -> str:
    """The language of this request: chosen in the session, else the browser's preference."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def translate(text: str, lang: str | None = None) -> str:
    """The interface text in the given (else the current) language; English when no translation exists."""
    lang = lang or current_language()
    with force_locale(lang):
        found = gettext(text)
    return found if found != text else WORDS.get(lang, {}).get(text, text)


def message_text(message: dict, lang: str | None = None) -> str:
    """A query message in the reader's language: a check's text in that language, a system message by its key.

    A check's message is stored in every language it has (``texts``), the system's own by its catalog ``key``
    and ``args``; a person's message (and one stored before languages were kept) is shown as written.
    """
    lang = lang or current_language()
    texts = message.get("texts") or {}
    if texts:
        return texts.get(lang) or texts.get("en") or message.get("text", "")
    if message.get("key"):
        return translate(message["key"], lang) % (message.get("args") or {})
    return message.get("text", "")


def N_(text: str) -> str:
    """Mark a text for the catalogs without translating it now (it is translated where it is shown)."""
    return text


def init_app(app: Flask) -> None:
    """Read the catalogs with Flask-Babel in the request's language; ``_`` and ``lang`` in every template."""
    Babel(app, locale_selector=current_language)
    app.add_template_filter(message_text, "querytext")

    @app.context_processor
    def _inject() -> dict:
        lang = current_language()
        return {"_": lambda text: translate(text, lang), "lang": lang, "languages": LANGUAGES}
