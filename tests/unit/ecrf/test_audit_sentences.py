"""Each kind of audit event told as a sentence, in English and in Chinese, with labels and no internal ids."""

import zoneinfo

import pytest

from ecrf.audit_sentences import Reader, describe

RECORD = {"study": "MINI", "subject": "01-001", "site": "01", "event": "SCREEN", "form": "VS"}
DM = {**RECORD, "form": "DM"}
AE = {**RECORD, "event": "LOGS", "form": "AE"}


def _event(action, changes=(), *, context=RECORD, stream="record/MINI/01-001/SCREEN/VS", actor="staff01", **more):
    return {"stream": stream, "seq": 2, "actor": actor, "action": action, "changes": list(changes),
            "context": context, "state": more.pop("state", {}), **more}


def _said(text):
    return {"path": "/messages/0", "old": None, "new": {"text": text, "author": "mon01"}}


CASES = [
    ("a value changed, with its unit and reason",
     _event("update", [{"path": "/WEIGHT", "old": 45, "new": 54}], reason="transcription error"),
     ["Dr Li changed Weight from 45 kg to 54 kg (reason: transcription error)"],
     ["Dr Li将Weight从 45 kg 修改为 54 kg（原因：transcription error）"]),
    ("a first entry", _event("create", [{"path": "/HEIGHT", "old": None, "new": 170}]),
     ["Dr Li entered Height: 170 cm"], ["Dr Li录入了Height：170 cm"]),
    ("a yes/no item as Yes and No, labels in the reader's language",
     _event("update", [{"path": "/CHILDPOT", "old": True, "new": False}], context=DM),
     ["Dr Li changed Woman of childbearing potential from Yes to No"], ["Dr Li将有生育能力的女性从 是 修改为 否"]),
    ("a choice by its label", _event("create", [{"path": "/SEX", "old": None, "new": "F"}], context=DM),
     ["Dr Li entered Sex: Female"], ["Dr Li录入了性别：女"]),
    ("a cleared value", _event("update", [{"path": "/SEX", "old": "M", "new": None}], context=DM, reason="wrong"),
     ["Dr Li cleared Sex (was Male) (reason: wrong)"], ["Dr Li清除了性别（原为 男）（原因：wrong）"]),
    ("a repeating row by its number, never its id",
     _event("update", [{"path": "/AE/r7f3a/AESER", "old": False, "new": True}], context=AE),
     ["Dr Li changed Adverse events, row 2: Serious from No to Yes"],
     ["Dr Li将Adverse events第2行: Serious从 否 修改为 是"]),
    ("a row added, its values by label, without the row id",
     _event("update", [{"path": "/AE/r7f3a", "old": None,
                        "new": {"row_id": "r7f3a", "AETERM": "Fever", "AESERCAT": "HOSP"}}], context=AE),
     ["Dr Li added Adverse events, row 2: Term: Fever; Seriousness: Hospitalisation"],
     ["Dr Li添加了Adverse events第2行：Term: Fever; Seriousness: Hospitalisation"]),
    ("a query raised, its text as said", _event("query_opened", [_said("Please check")], actor="mon01",
                                                stream="query/q1", context={**RECORD, "item": "/WEIGHT"}),
     ["M. Chen raised a query on Weight: “Please check”"], ["M. Chen对Weight发起质疑：“Please check”"]),
    ("a query answered", _event("query_answered", [_said("Source says 54")], stream="query/q1",
                                context={**RECORD, "item": "/WEIGHT"}),
     ["Dr Li answered the query on Weight: “Source says 54”"], ["Dr Li回复了Weight的质疑：“Source says 54”"]),
    ("a query closed", _event("query_closed", [_said("")], actor="mon01", stream="query/q1",
                              context={**RECORD, "item": "/WEIGHT"}),
     ["M. Chen closed the query on Weight"], ["M. Chen关闭了Weight的质疑"]),
    ("a check's query in the reader's language, by the system",
     _event("query_opened", [{"path": "/messages/0", "old": None, "new": {
         "text": "Childbearing potential is required for women",
         "texts": {"en": "Childbearing potential is required for women", "zh": "女性须填写生育能力"}}}],
            actor="system", stream="query/q2", context={**DM, "item": "/CHILDPOT"}),
     ["The system raised a query on Woman of childbearing potential: “Childbearing potential is required for women”"],
     ["系统对有生育能力的女性发起质疑：“女性须填写生育能力”"]),
    ("source data verified", _event("sdv", actor="mon01"),
     ["M. Chen verified the form against the source"], ["M. Chen完成了本表单的源数据核查"]),
    ("a form signed", _event("sign", state={"signature": {"meaning": "I approve"}}, actor="inv01"),
     ["Dr Wang signed the form (meaning: “I approve”)"], ["Dr Wang签署了表单（含义：“I approve”）"]),
    ("a casebook signature", _event("sign", stream="signature/MINI/01-001/s1", actor="inv01",
                                    state={"signature": {"meaning": "I approve", "scope": "subject"}}),
     ["Dr Wang signed the casebook (meaning: “I approve”)"], ["Dr Wang签署了病例簿（含义：“I approve”）"]),
    ("a form locked", _event("lock", actor="dm"), ["dm locked the form"], ["dm锁定了表单"]),
    ("a form unlocked with its reason", _event("unlock", actor="dm", reason="late lab"),
     ["dm unlocked the form (reason: late lab)"], ["dm解锁了表单（原因：late lab）"]),
    ("a subject registered", _event("subject_registered", [{"path": "/site", "old": None, "new": "01"}],
                                    stream="subject/MINI/01-001", context={"study": "MINI", "subject": "01-001",
                                                                           "site": "01"}),
     ["Dr Li registered the subject at site 01"], ["Dr Li在中心 01 登记了受试者"]),
    ("a status change", _event("subject_status", [{"path": "/status", "old": "screening", "new": "enrolled"}],
                               stream="subject/MINI/01-001", actor="system"),
     ["Subject status changed from screening to enrolled"], ["受试者状态由筛选中变为已入组"]),
]


@pytest.fixture
def read(app):
    from ecrf.i18n import message_text, translate
    from ecrf.studies import study_runtime

    with app.test_request_context():
        forms = study_runtime("MINI").forms

        def tell(event, lang):
            reader = Reader(lang=lang, words=lambda text: translate(text, lang),
                            message=lambda said: message_text(said, lang), tz=zoneinfo.ZoneInfo("Asia/Shanghai"),
                            names={"staff01": "Dr Li", "mon01": "M. Chen", "inv01": "Dr Wang"}, rows={"r7f3a": 2})
            return describe(event, forms, reader)

        yield tell


@pytest.mark.parametrize("case, event, english, chinese", CASES, ids=[c[0] for c in CASES])
def test_each_kind_of_event_reads_as_a_sentence_in_both_languages(read, case, event, english, chinese):
    assert read(event, "en") == english
    assert read(event, "zh") == chinese


def test_a_date_time_value_is_shown_at_the_site_with_its_zone(read):
    event = _event("create", [{"path": "/MEASURED_AT", "old": None, "new": "2026-03-02T01:30:00Z"}])
    assert read(event, "en") == ["Dr Li entered Measured at: 2026-03-02 09:30 CST"]


def test_a_removed_row_is_named_without_its_id(read):
    event = _event("update", [{"path": "/AE/gone1", "old": {"row_id": "gone1", "AETERM": "Rash"}, "new": None}],
                   context=AE)
    [sentence] = read(event, "en")
    assert sentence == "Dr Li removed Adverse events, a removed row (was Term: Rash)" and "gone1" not in sentence


def test_an_unknown_action_still_says_who_did_what(read):
    assert read(_event("archive"), "en") == ["Dr Li: archive"]


def test_a_first_list_of_rows_is_told_by_labels(read):
    event = _event("create", [{"path": "/AE", "old": None, "new": [{"row_id": "r7f3a", "AETERM": "Fever",
                                                                       "AESER": True}]}], context=AE)
    assert read(event, "en") == ["Dr Li entered Adverse events: Term: Fever; Serious: Yes"]
