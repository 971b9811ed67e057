"""What may be attached as a source document is read from the bytes, never the name: polyglots are refused."""

import pytest
from documents import image_bytes, pdf_bytes, zip_bytes

from ecrf.file_types import KINDS, Refused, download_name, sniff


def with_open_action(pdf: bytes) -> bytes:
    return pdf.replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >>")


@pytest.mark.parametrize("data, name, media_type", [
    (pdf_bytes(), "marrow.pdf", "application/pdf"),
    (pdf_bytes(), "scan", "application/pdf"),  # no extension: the content decides
    (image_bytes("PNG"), "photo.png", "image/png"),
    (image_bytes("JPEG"), "photo.JPG", "image/jpeg"),
    (image_bytes("JPEG"), "photo.jpeg", "image/jpeg"),
    (pdf_bytes() + b"\r\n", "trailing-newline.pdf", "application/pdf"),
])
def test_pdf_png_and_jpeg_are_accepted_by_their_content(data, name, media_type):
    assert sniff(data, name).media_type == media_type


@pytest.mark.parametrize("data, name, reason", [
    (b"", "empty.pdf", "empty"),
    (b"<html><script>alert(1)</script></html>", "report.pdf", "only these files"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "x.png", "only these files"),
    (image_bytes("GIF"), "anim.gif", "image/gif"),
    (b"MZ\x90\x00" + b"\x00" * 200, "setup.pdf", "only these files"),
    (image_bytes("PNG"), "looks-like.pdf", "named as a PDF document but is a PNG image"),
    (pdf_bytes(), "looks-like.jpg", "named as a JPEG image but is a PDF document"),
    (b"%PDF-1.7\n<html><body><script>x()</script>" + pdf_bytes()[8:], "a.pdf", "markup"),
    (image_bytes("PNG") + zip_bytes(), "gifar.png", "ZIP archive"),
    (pdf_bytes() + zip_bytes(), "a.pdf", "ZIP archive"),
    (image_bytes("PNG", (400, 400)) + b"A" * 64, "tail.png", "after its end"),
    (image_bytes("JPEG", (400, 400)) + b"A" * 64, "tail.jpg", "after its end"),
    (pdf_bytes() + b"\n<p>appended page</p>" + b"x" * 2000, "tail.pdf", "after its end"),
    (with_open_action(pdf_bytes()), "js.pdf", "active content"),
    (pdf_bytes().replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /Launch /F (cmd.exe) >>"),
     "launch.pdf", "active content"),
    (image_bytes("PNG")[:60], "cut.png", "cut short"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "cut.jpg", "cut short"),
    (b"%PDF-1.4\n%%EOF", "nopages.pdf", "cannot be read"),
])
def test_files_that_are_not_plain_documents_are_refused_with_a_reason(data, name, reason):
    with pytest.raises(Refused, match=reason):
        sniff(data, name)


def test_a_damaged_png_that_does_not_decode_is_refused():
    good = bytearray(image_bytes("PNG"))
    at = good.index(b"IDAT") + 4
    good[at:at + 16] = b"\x00" * 16  # the compressed pixels, broken
    with pytest.raises(Refused):
        sniff(bytes(good), "broken.png")


def test_a_download_keeps_its_name_and_gains_the_extension_of_what_it_is():
    assert download_name("marrow.pdf", KINDS["application/pdf"]) == "marrow.pdf"
    assert download_name("scan", KINDS["application/pdf"]) == "scan.pdf"
    assert download_name("photo.JPG", KINDS["image/jpeg"]) == "photo.JPG"
