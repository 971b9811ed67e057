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
        # --- added by sdv (issue 19): item-level SDV, changed-since-SDV markers, the SDV worklist
        "Source data verification": "源数据核查", "Verify": "核查", "Value": "数值", "SDV": "SDV",
        "Verify selected": "核查所选", "Verify all": "全部核查", "Changed since SDV": "SDV 后已修改",
        "SDV worklist": "SDV 工作清单", "All": "全部", "Awaiting, partial or changed": "待核查、部分核查或已修改",
        "Forms listed: %s": "列出的表单：%s", "%s of %s items": "%s / %s 个条目",
        "Nothing awaits verification here.": "此处没有待核查的内容。",
        "SDV not required": "无需 SDV", "Awaiting SDV": "待 SDV", "Partly verified": "部分已核查",
        "SDV %s of %s": "SDV %s / %s", "%s changed since SDV": "%s 份 SDV 后已修改",
        "%s signed": "%s 份已签署", "%s locked": "%s 份已锁定", "Review": "审核",
        "select at least one item to verify": "请至少选择一个要核查的条目",
        "Select at least one item": "请至少选择一个条目",
        # --- added by useradmin (issue 21): user administration and the access review
        "(not for data managers and administrators: they work at every site)":
            "（数据管理员和管理员无需选择：他们负责所有中心）",
        "A new token for scripts, shown once.": "为脚本生成新令牌，仅显示一次。",
        "A one-time password is shown once; the user must change it at next sign-in.":
            "一次性密码仅显示一次；用户下次登录时必须修改。",
        "API token": "API 令牌", "Access review": "权限审查", "Account": "账户",
        "An administrator has reset your password. Enter the one-time password you were given as your current "
        "password and choose a new one before you continue.":
            "管理员已重置您的密码。请将收到的一次性密码作为当前密码输入，并设置新密码后再继续。",
        "Disable": "停用", "Enable": "启用", "Download CSV": "下载 CSV", "Ended": "终止",
        "Ends every browser session of the user.": "结束该用户的所有浏览器会话。",
        "Ends the lockout after repeated failed sign-ins.": "解除多次登录失败导致的锁定。",
        "Ends their sessions and revokes their tokens; the user is kept, never deleted.":
            "结束其会话并吊销其令牌；用户保留，永不删除。",
        "Every API token of the user is revoked": "该用户的所有 API 令牌已吊销",
        "Every live API token stops working.": "所有有效的 API 令牌将失效。",
        "Every role each user holds or has held at each site, since when and granted by whom, from the audit "
        "trail. Times in UTC.": "每位用户在各中心现有及曾有的角色、起始时间和授权人，取自稽查轨迹。时间为 UTC。",
        "Every session of the user has ended": "该用户的所有会话已结束",
        "Give a reason": "请填写原因", "Granted": "授予时间", "Granted by": "授权人",
        "Initial password (leave empty for a one-time password)": "初始密码（留空则生成一次性密码）",
        "Issue API token": "签发 API 令牌", "Last sign-in": "最近登录", "Live API tokens": "有效 API 令牌",
        "Manage users": "管理用户", "Reset password": "重置密码", "Revoke API tokens": "吊销 API 令牌",
        "Role and sites changed; the user's sessions have ended": "角色和中心已更改；该用户的会话已结束",
        "Sign out everywhere": "在所有设备上退出", "Signing in works again.": "恢复登录权限。",
        "The user must choose a new password when they next sign in; their API tokens are refused until then.":
            "用户下次登录时必须设置新密码；在此之前其 API 令牌将被拒绝。",
        "User disabled; their sessions have ended and their tokens are revoked": "用户已停用；其会话已结束，令牌已吊销",
        "User enabled": "用户已启用", "User unlocked": "用户已解锁", "current": "当前有效",
        "must change password": "须修改密码", "never": "从未", "no grant in the audit trail": "稽查轨迹中无授权记录",
        "one-time password": "一次性密码", "required": "必填",
        "shown once; copy it now and give it to the user in person": "仅显示一次；请立即复制并当面交给用户",
        "users": "名用户",
        # --- added by attach: source documents on the form page (issue 22)
        "Source documents": "源文件", "Type": "类型", "Added": "添加",
        "Remove": "移除", "Whole form": "整个表单", "Reason for removal": "移除原因", "Remove file": "移除文件",
        "No source documents are attached to this form.": "此表单尚未附加源文件。", "Removed files": "已移除的文件",
        "removed by": "移除人", "PDF, PNG or JPEG, up to {n} MB": "PDF、PNG 或 JPEG，最大 {n} MB",
        "Attach to": "附加到", "Attach file": "附加文件", "File attached": "文件已附加", "File removed": "文件已移除",
        "PDF document": "PDF 文档", "PNG image": "PNG 图像", "JPEG image": "JPEG 图像", "kB": "KB",
        "The form expired; try again.": "表单已过期，请重试。",
        # --- added by audit19: the audit trail as sentences, its filters and pages; the casebook PDF
        "The system": "系统", "{who} saved the form without changes": "{who}保存了表单（无修改）",
        "{sentence} (reason: {reason})": "{sentence}（原因：{reason}）", "{group}, row {number}": "{group}第{number}行",
        "{group}, a removed row": "{group}（已删除的行）",
        "{who} added {item}: {new}": "{who}添加了{item}：{new}",
        "{who} removed {item} (was {old})": "{who}删除了{item}（原为 {old}）",
        "{who} entered {item}: {new}": "{who}录入了{item}：{new}",
        "{who} cleared {item} (was {old})": "{who}清除了{item}（原为 {old}）",
        "{who} changed {item} from {old} to {new}": "{who}将{item}从 {old} 修改为 {new}",
        "{who} raised a query on {item}: “{text}”": "{who}对{item}发起质疑：“{text}”",
        "{who} answered the query on {item}: “{text}”": "{who}回复了{item}的质疑：“{text}”",
        "{who} closed the query on {item}": "{who}关闭了{item}的质疑",
        "{who} reopened the query on {item}: “{text}”": "{who}重新打开了{item}的质疑：“{text}”",
        "{who} moved the query on {item} to “{state}”": "{who}将{item}的质疑改为“{state}”",
        "{who} recalculated the derived values": "{who}重新计算了衍生值",
        "{who} re-ran the checks": "{who}重新运行了核查",
        "{who} verified the form against the source": "{who}完成了本表单的源数据核查",
        "{who} verified items against the source": "{who}完成了条目的源数据核查",
        "{who} locked {what}": "{who}锁定了{what}", "{who} unlocked {what}": "{who}解锁了{what}",
        "{who} froze {what}": "{who}冻结了{what}", "{who} unfroze {what}": "{who}解冻了{what}",
        "{who} registered the subject at site {site}": "{who}在中心 {site} 登记了受试者",
        "{who} signed {what} (meaning: “{meaning}”)": "{who}签署了{what}（含义：“{meaning}”）",
        "Subject status changed from {old} to {new}": "受试者状态由{old}变为{new}",
        "the form": "表单", "the visit": "访视", "the casebook": "病例簿",
        "Filter the audit trail": "筛选稽查轨迹", "Anyone": "任何人",
        "From": "起始日期", "To": "截止日期", "Clear": "清除筛选", "First page": "第一页",
        "Audit events": "稽查事件", "No audit events match these filters.": "没有符合筛选条件的稽查事件。",
        "Pages of the audit trail": "稽查轨迹分页",
        "Events %(first)s–%(last)s of the subject’s sequence": "受试者序列中的第 %(first)s–%(last)s 条事件",
        "a date as YYYY-MM-DD": "日期格式应为 YYYY-MM-DD", "not a key this page gave": "不是本页给出的分页键",
        "no such visit in this study": "本研究没有此访视", "no such form in this study": "本研究没有此表单",
        "an item is named by its JSON pointer": "条目须以 JSON 指针表示", "before the first day": "早于起始日期",
        "the dates cannot be read": "无法识别日期", "derived": "衍生", "Casebook": "病例簿",
        "the filters name what this study does not have": "筛选条件指向本研究中不存在的内容",
        # --- added by qlist: the query list's choosers, counts, bulk actions and CSV; messages by kind
        "Any": "全部", "Queries by status": "按状态统计的质疑", "Visit": "访视",
        "Open or answered": "待回复或已回复", "Any status": "全部状态", "Any age": "不限天数",
        "Clear filters": "清除筛选",
        "Comment for the selected queries": "所选质疑的备注", "Close selected": "关闭所选质疑",
        "Answer selected": "回复所选质疑", "Select": "选择", "Select every query on this page": "选择本页所有质疑",
        "No queries match these filters.": "没有符合筛选条件的质疑。",
        "%(n)s queries answered": "已回复 %(n)s 条质疑", "%(n)s queries closed": "已关闭 %(n)s 条质疑",
        "%(n)s queries were not changed": "%(n)s 条质疑未能更改",
        "Error:": "错误：", "Warning:": "警告：", "Done:": "完成：", "Why close? (required)": "关闭原因（必填）",
        "Message": "消息", "Name": "名称", "Choose a form first": "请先选择表单",
        "Code": "代码", "Role": "角色",
        # --- added by fin18 (issue 18): the write path's faults, charts, confirmations, error pages, select options
        "%(value)s is less than the minimum of %(limit)s": "%(value)s 小于最小值 %(limit)s",
        "%(value)s is greater than the maximum of %(limit)s": "%(value)s 大于最大值 %(limit)s",
        "%(value)s is less than or equal to the minimum of %(limit)s": "%(value)s 必须大于 %(limit)s",
        "%(value)s is greater than or equal to the maximum of %(limit)s": "%(value)s 必须小于 %(limit)s",
        "%(value)s is not a multiple of %(limit)s": "%(value)s 不是 %(limit)s 的整数倍",
        "%(value)s is not of type number": "%(value)s 不是数字",
        "%(value)s is not of type integer": "%(value)s 不是整数",
        "%(value)s is not of type string": "%(value)s 不是文本",
        "%(value)s is not of type boolean": "%(value)s 不是“是/否”",
        "%(value)s is not of type array": "%(value)s 不是列表", "%(value)s is not of type object": "%(value)s 不是对象",
        "%(value)s is not of type %(type)s": "%(value)s 的类型不是 %(type)s",
        "%(value)s is not a valid date": "%(value)s 不是有效日期",
        "%(value)s is not a valid date and time": "%(value)s 不是有效的日期时间",
        "%(value)s is not a valid time": "%(value)s 不是有效时间",
        "%(value)s is not a valid %(format)s": "%(value)s 不符合格式 %(format)s",
        "%(value)s does not match %(pattern)s": "%(value)s 不符合规定格式 %(pattern)s",
        "%(value)s is too short": "%(value)s 过短", "%(value)s is too long": "%(value)s 过长",
        "%(value)s is not one of the allowed answers": "%(value)s 不是允许的选项",
        "%(value)s is not one of the allowed codes %(codes)s": "%(value)s 不是允许的代码（%(codes)s）",
        "%(value)s is not accepted here": "此处不接受 %(value)s",
        "unknown item %(item)s in form %(form)s": "表单 %(form)s 中没有条目 %(item)s",
        "unknown item %(item)s": "未知条目 %(item)s",
        "not applicable for the answers given (hidden by its condition); leave it empty":
            "根据已填写的答案此条目不适用（已按条件隐藏），请留空",
        "must be a finite number (not NaN or infinity)": "必须是有限数值（不能是 NaN 或无穷大）",
        "Value confirmed as entered.": "数值已按录入确认。",
        "site %(site)s": "中心 %(site)s", "subjects (cumulative)": "受试者（累计）", "grade %(grade)s": "%(grade)s 级",
        "day after infusion": "输注后天数", "days after infusion": "输注后天数", "infused subjects": "已回输受试者",
        "not assessed (NR, ITT)": "未评估（按 NR 计，ITT）",
        "died before the visit (NR, ITT)": "访视前死亡（按 NR 计，ITT）",
        "censored": "删失", "probability": "概率", "at risk, %(curve)s": "风险人数，%(curve)s", "d%s": "第%s天",
        "median": "中位数", "interquartile range": "四分位距", "Chart": "图表",
        "query_opened": "发起质疑", "query_answered": "回复质疑", "query_closed": "关闭质疑",
        "query_reopened": "重新打开质疑", "query_not_applicable": "质疑不适用", "sdv_items": "逐项源数据核查",
        "Visit signed": "访视已签署", "Unlocked": "已解锁", "Unfrozen": "已解冻",
        "Forbidden": "禁止访问", "Not found": "未找到", "Not Found": "未找到", "Bad request": "请求有误",
        "Bad Request": "请求有误", "Conflict": "冲突", "Validation failed": "验证未通过", "Not authenticated": "未登录",
        "Payload too large": "内容过大",
        "Unsupported media type": "不支持的媒体类型",
        "Service unavailable": "服务不可用",
        "Method Not Allowed": "不允许的请求方法", "Too Many Requests": "请求过于频繁",
        "Reason for change required": "需要修改原因", "Internal Server Error": "服务器内部错误",
        "You do not have permission for this page or action.": "您无权访问此页面或执行此操作。",
        "The page or record was not found.": "未找到该页面或记录。",
        "The request could not be completed.": "无法完成该请求。", "Technical details": "技术细节",
        "CDISC ODM 1.3.2 (XML, with audit trail)": "CDISC ODM 1.3.2（XML，含稽查轨迹）",
        "CSV (zip, one file per form)": "CSV（zip 压缩包，每个表单一个文件）", "Excel": "Excel",
        "CSV (one row per subject and visit)": "CSV（每名受试者每次访视一行）",
        "CDISC ODM 1.3 ClinicalData (XML)": "CDISC ODM 1.3 ClinicalData（XML）",
        "The form could not be saved: it changed meanwhile or no longer takes this entry. Reload it and try again.":
            "无法保存此表单：表单已被修改或不再接受此录入。请刷新后重试。",
        "The form could not be saved: it is locked.": "无法保存此表单：表单已锁定。", "both": "不限",
        # --- added by signoff (issue 19): sign-off and lock that warn, casebook and study lock, the worklist
        "%s things stand against this:": "有 %s 项问题阻碍此操作：", "and %s more": "另有 %s 项",
        "Open query": "未关闭质疑", "Required item empty": "必填项为空", "Form not started": "表单未开始",
        "Not source-verified": "未完成源数据核查", "Not signed": "未签署",
        "Reason to proceed anyway": "仍要继续的原因",
        "Required: it is kept in the audit trail with the list above.": "必填：将与上述清单一并记录在稽查轨迹中。",
        "Nothing stands against this.": "没有阻碍此操作的问题。",
        "Sign form…": "签署表单…", "Sign visit…": "签署访视…", "Lock…": "锁定…", "Freeze…": "冻结…",
        "Sign": "签署",
        "Casebook sign-off": "病例簿签署与锁定",
        "Sign casebook…": "签署病例簿…", "Sign casebook": "签署病例簿",
        "Lock casebook…": "锁定病例簿…", "Lock casebook": "锁定病例簿",
        "Freeze casebook…": "冻结病例簿…", "Freeze casebook": "冻结病例簿",
        "Unlock casebook": "解锁病例簿", "Unfreeze casebook": "解冻病例簿",
        "Casebook signed": "病例簿已签署", "Casebook locked": "病例簿已锁定", "Casebook frozen": "病例簿已冻结",
        "Casebook unlocked": "病例簿已解锁", "Casebook unfrozen": "病例簿已解冻",
        "Database lock": "数据库锁定", "Study": "研究", "open for data entry": "开放数据录入",
        "Freezing stops every change of data, queries, verification and signatures in the study; locking also "
        "closes it for good until it is unlocked with a reason. Both run in the background over every record.":
            "冻结将停止研究中数据、质疑、核查和签署的一切更改；锁定则在以原因解锁之前永久关闭研究。两者均在后台对每条记录执行。",
        "Freeze the study…": "冻结研究…", "Freeze the study": "冻结研究",
        "Lock the study…": "锁定研究…", "Lock the study": "锁定研究",
        "Unlock the study": "解锁研究", "Unfreeze the study": "解冻研究",
        "Recent runs": "最近的运行", "Step": "步骤", "By": "执行人", "Records changed": "已更改的记录",
        "despite obstacles": "存在问题仍继续", "No freeze or lock has been run yet.": "尚未运行冻结或锁定。",
        "records": "条记录", "Run despite obstacles": "存在问题仍运行",
        "Back to the database lock": "返回数据库锁定",
        "To sign": "待签署", "What awaits your signature": "等待您签署的内容",
        "Complete forms, visits and casebooks at your sites that await your signature, and those whose signature "
        "a later change voided.": "您所在中心等待您签署的已完成表单、访视和病例簿，以及因后续更改而签名失效的内容。",
        "Note": "备注", "Complete, not signed": "已完成，未签署", "Earlier signature voided": "先前签名已失效",
        "Nothing awaits your signature.": "没有等待您签署的内容。",
        # Stream sae (issue 22, SAE reports on the clock): the SAE list, report page, actions, audit actions, role.
        "SAE reports": "严重不良事件报告列表",
        ("An initial report is due 24 hours after the site became aware of the event. "
         "Overdue reports come first."): "首次报告须在研究中心获知事件后 24 小时内提交。逾期报告排在最前。",
        "Overdue by site": "各中心逾期情况",
        "Overdue reports": "逾期报告数",
        "draft": "草稿",
        "submitted": "已提交",
        "acknowledged": "已确认接收",
        "followup_requested": "已要求随访",
        "serious": "严重不良事件",
        "death": "死亡",
        "expedited": "须快速报告的事件",
        "Reaction / event": "反应/事件",
        "Due": "截止时间",
        "Time remaining": "剩余时间",
        "Overdue by %s h %s min": "已逾期 %s 小时 %s 分钟",
        "%s h %s min left": "剩余 %s 小时 %s 分钟",
        "No SAE reports.": "暂无严重不良事件报告。",
        "SAE report": "严重不良事件报告",
        "CIOMS-I form (PDF)": "CIOMS-I 表（PDF）",
        "Site aware of the event": "研究中心获知时间",
        "Submitted and signed": "已提交并签名",
        "Safety reviewer's message": "安全审评员留言",
        "Seriousness criteria": "严重性标准",
        "Onset date": "发生日期",
        "Relation to CAR-T product": "与 CAR-T 产品的相关性",
        "Relation to lymphodepletion": "与淋巴细胞清除的相关性",
        "Expectedness": "预期性",
        "Treatments and actions taken": "治疗及采取的措施",
        "Narrative": "病例描述",
        "Death": "死亡",
        "Life-threatening": "危及生命",
        "Hospitalisation or prolongation": "住院或住院时间延长",
        "Disability": "残疾或功能丧失",
        "Congenital anomaly": "先天异常",
        "Other medically important": "其他重要医学事件",
        "Not related": "无关",
        "Unlikely": "可能无关",
        "Possible": "可能有关",
        "Probable": "很可能有关",
        "Definite": "肯定有关",
        "Recovered": "痊愈",
        "Recovering": "好转",
        "Not recovered": "未好转",
        "Recovered with sequelae": "痊愈伴后遗症",
        "Fatal": "死亡",
        "Unknown": "未知",
        "Expected": "预期",
        "Unexpected": "非预期",
        "site time": "中心时间",
        "Save report": "保存报告",
        "Submit to the sponsor": "提交给申办方",
        "I confirm this serious adverse event report is accurate and complete": "我确认本严重不良事件报告准确、完整",
        "Sign and submit": "签名并提交",
        "Safety review": "安全审评",
        "Message (optional)": "留言（可选）",
        "Acknowledge": "确认接收",
        "What the follow-up should add": "随访报告需补充的内容",
        "Follow-up due": "随访截止时间",
        "empty: in 7 days": "留空：7 天内",
        "Request follow-up": "要求随访",
        "Close report": "关闭报告",
        "sae_opened": "开启严重不良事件报告",
        "sae_updated": "修改严重不良事件报告",
        "sae_submitted": "提交严重不良事件报告",
        "sae_acknowledged": "确认接收严重不良事件报告",
        "sae_followup_requested": "要求随访报告",
        "sae_closed": "关闭严重不良事件报告",
        "SAE report submitted": "严重不良事件报告已提交",
        "SAE report acknowledged": "严重不良事件报告已确认接收",
        "Follow-up requested": "已要求随访",
        "SAE report closed": "严重不良事件报告已关闭",
        "SAE report saved": "严重不良事件报告已保存",
        "safety": "安全审评员",
        # --- added by notify: the notifications inbox, its preferences and the kinds of notification
        "Notifications": "通知", "unread": "未读", "Notification preferences": "通知设置",
        "Show all": "显示全部", "Show unread only": "仅显示未读", "Mark selected as read": "将所选标为已读",
        "Mark all as read": "全部标为已读", "No notifications.": "暂无通知。",
        "notifications": "条通知", "Back to notifications": "返回通知", "E-mail address": "电子邮件地址",
        "E-mails name the subject and hold a link; they carry no clinical data.":
            "邮件仅包含受试者编号和链接，不含任何临床数据。",
        "Notification": "通知", "Delivery": "发送方式", "Save preferences": "保存设置",
        "Inbox only": "仅站内", "E-mail at once": "立即发送邮件", "Daily digest e-mail": "每日汇总邮件",
        "Marked as read": "已标为已读", "Preferences saved": "设置已保存",
        "New query at my sites": "我的中心有新质疑", "Query answered": "质疑已回复", "SAE opened": "SAE 已创建",
        "SAE submitted": "SAE 已提交", "SAE report overdue": "SAE 报告已逾期", "Visit overdue": "访视已逾期",
        "Lab result of CTCAE grade 3 or higher": "实验室结果达到 CTCAE 3 级及以上", "Record unlocked": "记录已解锁",
        # --- added by amend: retired items of a migrated record
        "Retired items": "已停用的条目", "retired": "已停用",
        "subject_migrated": "病例簿迁移至新研究版本", "subject_pinned": "病例簿固定于研究版本",
        # --- amend: the study versions page
        'Study versions': '研究版本',
        "A new version is loaded once, activated at each site from its ethics approval date, and existing casebooks "
        "move to it only by migration.":
            "新版本只需加载一次，在各中心自其伦理批准日期起激活；已有病例簿只能通过迁移转到新版本。",
        'Loaded versions': '已加载的版本',
        'Loaded': '加载时间',
        'Current': '当前版本',
        'Active version per site': '各中心的生效版本',
        'Ethics approval date': '伦理批准日期',
        'kept on its version': '保持原版本',
        'Activate at the site': '在该中心激活',
        'Load a new version': '加载新版本',
        "Upload the study folder as a zip. It is checked like “ecrf study check”; a version that passes is loaded, "
        "and no site or casebook moves onto it.":
            "请以 zip 文件上传研究文件夹。系统会像“ecrf study check”一样检查；"
            "通过检查的版本将被加载，但不会有任何中心或病例簿自动转到该版本。",
        'Check and load': '检查并加载',
        'The study folder has faults; nothing was loaded': '研究文件夹有错误，未加载任何内容',
        'Version %s loaded': '版本 %s 已加载',
        'Differences from the current version': '与当前版本的差异',
        'Migrate casebooks': '迁移病例簿',
        'Start': '开始',
        'Study folder (zip)': '研究文件夹（zip）',
        'Migrate to version': '迁移到版本',
        'Reason (the amendment)': '原因（方案修订）',
        'Dry run (write nothing)': '试运行（不写入任何数据）',
        'Version activated at the site.': '该版本已在该中心激活。',
        "A migration needs the amendment's reason.": '迁移需要填写方案修订的原因。',
        'Migration': '迁移',
        'Migration to version %s': '迁移到版本 %s',
        'Download the report': '下载报告',
        'Record': '记录',
        'What changes': '变更内容',
        'added': '新增',
        'now required and empty': '新必填且为空',
        'check fails': '核查不通过',
        'check passes': '核查通过',
        'migrated': '已迁移',
        'skipped': '已跳过',
        "These items are not part of this study version any more. Their values are kept read-only, with their "
        "history in the audit trail.": "这些条目已不属于当前研究版本。其数值以只读方式保留，历史记录保存在稽查轨迹中。",
        # --- added by coding (issue 22, part 3): AE coding queue, term chooser, safety table
        "coder": "医学编码员", "Coding": "医学编码", "Coding queue": "编码队列", "Dictionary": "词典",
        "terms": "个术语", "Source": "来源",
        "No term is waiting to be coded.": "没有待编码的术语。", "uncoded": "未编码", "queried": "已质疑",
        "coded": "已编码", "CTCAE term for this verbatim term": "此原始术语对应的CTCAE术语",
        "Term unclear: query the site": "术语不清楚：向中心发出质疑", "Message to the site": "给中心的消息",
        "The adverse event term is unclear: please give the CTCAE term or a clearer description.":
            "不良事件术语不清楚：请提供CTCAE术语或更清楚的描述。",
        "Term coded": "术语已编码", "Query sent to the site": "质疑已发送至中心",
        "Subjects by system organ class, preferred term and worst grade":
            "按系统器官分类、首选术语和最严重分级统计的受试者",
        "System organ class": "系统器官分类", "Preferred term": "首选术语", "Ungraded": "未分级",
        "Not yet coded": "尚未编码", "Waiting for the coder": "等待编码员编码", "Queried by the coder": "编码员已质疑",
        "Standard (generic) name: no drug dictionary is shipped": "标准（通用）名称：系统未附带药物词典",
        "The medication name is unclear: please give the generic name.": "药物名称不清楚：请提供通用名。",
        "Coded to CTCAE v5.0 (MedDRA). A subject counts once per row, at the worst grade; % of subjects in scope.":
            "按CTCAE v5.0（MedDRA）编码。每位受试者在每行只计一次，按其最严重分级；百分比以范围内受试者为分母。",
        # --- added at integration: the data manager's menu
        "Data management": "数据管理",
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
