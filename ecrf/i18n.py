"""The user's language (English or Simplified Chinese) and the interface's own words."""

from __future__ import annotations

from flask import Flask, request, session

LANGUAGES = {"en": "English", "zh": "中文"}

WORDS = {
    "zh": {
        "Sign in": "登录", "Sign out": "退出", "Username": "用户名", "Password": "密码",
        "Signatures": "电子签名", "Signer": "签署人", "Scope": "范围", "Meaning": "含义", "Still valid": "仍有效",
        "form": "表单", "visit": "访视", "casebook": "病例簿", "yes": "是", "no — voided": "否 — 已失效",
        "Subjects": "受试者", "Subject": "受试者", "Site": "中心", "Status": "状态",
        "Register subject": "登记受试者", "Subject ID (optional)": "受试者编号（可选）",
        "Save": "保存", "Reason for change": "修改原因", "Version": "版本",
        "Derived values": "衍生值", "Audit trail": "稽查轨迹", "When": "时间", "Who": "操作人",
        "Action": "操作", "Item": "条目", "Old": "原值", "New": "新值", "Reason": "原因",
        "Add row": "添加行", "Remove row": "删除行", "Missing required items": "缺少必填条目",
        "complete": "完成", "incomplete": "未完成", "not_started": "未开始", "locked": "已锁定",
        "Saved": "已保存", "No changes": "无修改", "Nothing saved yet": "尚未保存",
        "Yes": "是", "No": "否", "Events": "访视", "Forms": "表单", "Back to subject": "返回受试者",
        "Required": "必填", "Please correct the errors below.": "请更正以下错误。",
        "Studies": "研究", "Exports": "导出", "Start export": "开始导出", "Download": "下载", "Reports": "报表",
        "Enrollment": "入组", "Visits": "访视", "Review progress": "审核进度", "Safety": "安全性", "Efficacy": "有效性",
        "Verified": "已核查", "Frozen": "已冻结", "Locked": "已锁定", "Verify (SDV)": "源数据核查",
        "Sign form": "签署表单", "Sign visit": "签署访视", "Lock": "锁定", "Unlock": "解锁", "Freeze": "冻结",
        "Unfreeze": "解冻", "Reason for unlock": "解锁原因", "verified": "已核查", "signed": "已签署",
        "frozen": "已冻结",
        "I attest that I have reviewed the data and it is accurate and complete": "我确认已审阅数据，数据准确完整",
        "Change password": "修改密码", "History": "历史", "Queries": "质疑", "Raise query": "发起质疑",
        "Answer": "回复", "Close query": "关闭质疑", "Reopen": "重新打开", "Filter": "筛选", "Days open": "开放天数",
        "Origin": "来源", "Last message": "最新消息", "Language": "语言", "Form": "表单", "Event": "访视",
        "queries": "条质疑", "subjects": "名受试者", "of": "/", "Previous": "上一页", "Next": "下一页",
        # --- added by ui-grid: the subject grid, its legend and the subject list
        "Not started": "未开始", "Incomplete": "未完成", "Complete": "已完成", "Signed": "已签署",
        "In screening": "筛选中", "Enrolled": "已入组", "Screen failed": "筛选失败",
        "Legend": "图例", "Visit schedule": "访视计划", "day %s": "第%s天", "planned": "计划日期", "window": "窗口期",
        "open queries": "条未关闭质疑", "Open queries": "未关闭质疑", "Progress": "进度",
        "%s of %s forms": "%s / %s 份表单",
        "Casebook (PDF)": "病例簿（PDF）",
    }
}


def current_language() -> str:
    """The language of this request: chosen in the session, else the browser's preference."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def translate(text: str, lang: str | None = None) -> str:
    """The interface text in the current language (English when no translation exists)."""
    return WORDS.get(lang or current_language(), {}).get(text, text)


def init_app(app: Flask) -> None:
    """Make ``_`` and ``lang`` available in every template."""

    @app.context_processor
    def _inject() -> dict:
        lang = current_language()
        return {"_": lambda text: translate(text, lang), "lang": lang, "languages": LANGUAGES}
