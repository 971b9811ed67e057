"""The casebook PDF draws SpO₂ and Chinese in embedded fonts, in the reader's language, without internal ids.

Each PDF is read back twice: its text (pypdf: the characters the fonts map) and its pixels (poppler's
pdftoppm renders the page; the place where the text says a label stands must not be blank).
"""

import io
import shutil
import subprocess

import pytest
from PIL import Image
from pypdf import PdfReader

from ecrf.exports.pdf_fonts import CJK, LATIN, pdf_fonts

AE_ROW = {"AETERM": "Cytokine release syndrome", "AETOXGR": 2, "AESTDTC": "2026-03-03", "AESER": False,
          "AERELCAR": "possible", "AERELLD": "unlikely", "AEOUT": "recovered"}
VS = {"VSDTC": "2026-02-10", "HEIGHT": 170, "WEIGHT": 70, "TEMP": 36.8, "HR": 78, "SYSBP": 120, "DIABP": 75,
      "OXYSAT": 98}


@pytest.fixture
def casebook(cd7):
    staff = cd7("staff01")
    subject = staff.register("01")
    assert staff.save(subject, "SCREEN", "VS", VS).status_code == 201
    assert staff.save(subject, "SCREEN", "VS", {**VS, "OXYSAT": 97}, version=1, reason="re-measured").status_code == 200
    assert staff.save(subject, "LOGS", "AE", {"AE": [AE_ROW]}).status_code == 201

    def download(lang: str) -> bytes:
        response = staff.client.get(f"/api/v1/studies/CD7_CART_SAA/subjects/{subject}/casebook.pdf",
                                    headers={**staff.headers(), "Accept-Language": lang})
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        return response.data

    return download


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _where(pdf: bytes, wanted: str) -> tuple[int, float, float, float]:
    """(page index, x, y from the top, font size) of the first text run holding ``wanted``."""
    for index, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):
        found = []

        def visit(text, cm, tm, font, size, found=found):
            if wanted in text and not found:
                found.append((tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5], size * cm[3] or size))

        page.extract_text(visitor_text=visit)
        if found:
            x, y, size = found[0]
            return index, x, float(page.mediabox.height) - y, size
    raise AssertionError(f"{wanted!r} is drawn on no page")


def _ink_near(pdf: bytes, wanted: str, tmp_path) -> int:
    """Dark pixels where ``wanted``'s run starts, on its page rendered by pdftoppm at 72 dpi (1 px = 1 pt)."""
    index, x, top, size = _where(pdf, wanted)
    source = tmp_path / "casebook.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "72", "-f", str(index + 1), "-l", str(index + 1), "-singlefile",
                    str(source), str(tmp_path / "page")], check=True, timeout=120)
    image = Image.open(tmp_path / "page.png").convert("L")
    box = (int(x), int(top - size * 1.2), int(x + size * 8), int(top + size * 0.4))
    return sum(image.crop(box).histogram()[:128])


def test_the_pdf_fonts_are_embedded_truetype_with_subscripts_and_chinese():
    fonts = pdf_fonts()
    assert fonts.latin == LATIN and fonts.latin_file.suffix == ".ttf"
    assert fonts.cjk == CJK and fonts.cjk_file is not None  # Debian's TrueType Chinese font (CI installs it)
    from reportlab.pdfbase import pdfmetrics

    assert 0x2082 in pdfmetrics.getFont(LATIN).face.charToGlyph  # the ₂ of SpO₂
    assert ord("血") in pdfmetrics.getFont(CJK).face.charToGlyph


def test_an_english_casebook_draws_spo2_with_its_subscript(casebook, tmp_path):
    pdf = casebook("en")
    text = _text(pdf)
    flat = " ".join(text.split())
    assert "Oxygen saturation (SpO₂)" in flat
    assert "changed Oxygen saturation (SpO₂) from 98 % to 97 % (reason: re-measured)" in flat
    assert "Adverse events 1 · Relation to CAR-T" in flat and "Possible" in flat
    assert "row_id" not in text and "row id" not in text
    assert _ink_near(pdf, "SpO₂", tmp_path) > 40


def test_a_chinese_casebook_draws_labels_and_choices_in_chinese(casebook, tmp_path):
    pdf = casebook("zh")
    flat = " ".join(_text(pdf).split())
    assert "血氧饱和度" in flat and "与CAR-T的关系" in flat
    assert "可能有关" in flat and "痊愈" in flat  # the AE row's choices in the reader's language
    assert "Possible" not in flat and "Recovered" not in flat
    assert "row_id" not in flat
    assert _ink_near(pdf, "血氧饱和度", tmp_path) > 40


def test_pdftoppm_is_installed_for_these_tests():
    assert shutil.which("pdftoppm"), "install poppler-utils (.ci/run and make test do)"
