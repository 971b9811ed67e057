"""Files as other systems write them, for the source-document tests: a PDF, images, a ZIP to hide in them."""

import io
import zipfile

from PIL import Image
from reportlab.pdfgen import canvas


def pdf_bytes(text: str = "Bone marrow biopsy report") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.showPage()
    page.save()
    return buffer.getvalue()


def image_bytes(fmt: str, size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.class", b"\xca\xfe\xba\xbe")
    return buffer.getvalue()
