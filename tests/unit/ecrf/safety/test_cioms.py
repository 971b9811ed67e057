"""The CIOMS-I PDF of an SAE report: its four parts, the patient's sex and birth date, and the report's content,
in English and in Chinese."""

import io

import pytest
from conftest import PASSWORD
from pypdf import PdfReader
from sae_fixtures import serious_event

SAE = "/studies/CD7_CART_SAA/sae"
SECTIONS = {
    "en": ["CIOMS FORM", "I. Reaction information", "II. Suspect drug(s) information",
           "III. Concomitant drug(s) and history", "IV. Report information", "Febrile neutropenia",
           "Hospitalisation or prolongation", "Possible", "Probable", "Unexpected", "Cefepime IV", "Asia/Shanghai",
           "Sex Female", "Date of birth 1990-05-01"],
    "zh": ["CIOMS 表", "一、反应信息", "二、可疑药物信息", "三、合并用药及病史", "四、报告信息", "Febrile neutropenia",
           "住院或住院时间延长", "可能有关", "很可能有关", "非预期", "Cefepime IV", "Asia/Shanghai",
           "性别 女", "出生日期 1990-05-01"],
}


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_cioms_pdf_holds_the_four_parts_and_the_content_in_the_readers_language(cd7, lang):
    subject, report = serious_event(cd7)
    staff, inv = cd7("staff01"), cd7("inv01")
    assert staff.save(subject, "SCREEN", "DM", {"SEX": "F", "BRTHDTC": "1990-05-01"}).status_code == 201
    staff.put(f"{SAE}/{report}", {"content": {"expectedness": "unexpected", "narrative": "Admitted with fever.",
                                              "treatments": "Cefepime IV"}})
    inv.post(f"{SAE}/{report}/submit", {"password": PASSWORD})
    response = staff.get(f"{SAE}/{report}/cioms.pdf?lang={lang}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f"cioms-{report}.pdf" in response.headers["Content-Disposition"]
    text = " ".join(text_of(response.data).split())
    assert [s for s in SECTIONS[lang] if " ".join(s.split()) not in text] == []
    assert "inv01" in text


def test_the_pdf_of_another_sites_report_is_not_found(cd7):
    _, report = serious_event(cd7)
    assert cd7("staff02").get(f"{SAE}/{report}/cioms.pdf").status_code == 404
