"""What a file really is, read from its bytes: the kinds of source document a record may carry.

A name's extension says nothing (anyone can rename a page of HTML ``scan.pdf``), so a file is accepted only
when its content is one of :data:`KINDS` from first byte to last:

- the magic bytes (read by the ``filetype`` library) name an accepted kind;
- nothing a browser would sniff as markup stands in its first kilobyte (HTML, SVG, XML, script);
- it is not also a ZIP archive (a ZIP is read from its end, so any file can carry one: JAR/GIFAR polyglots);
- the format's own end is the file's end (PNG's ``IEND``, JPEG's end-of-image, PDF's last ``%%EOF``): bytes
  appended after it are how most polyglots are built;
- images decode (Pillow verifies their structure); a PDF parses (pypdf) and holds no active content
  (JavaScript, launch actions, embedded files, XFA forms).

Each refusal says why in words a site user can act on.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

import filetype
from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PdfReadError


@dataclass(frozen=True)
class Kind:
    """One accepted kind of file: its media type, the extensions its names may carry, and a label for people."""

    media_type: str
    extensions: tuple[str, ...]
    label: str


KINDS = {
    "application/pdf": Kind("application/pdf", (".pdf",), "PDF document"),
    "image/png": Kind("image/png", (".png",), "PNG image"),
    "image/jpeg": Kind("image/jpeg", (".jpg", ".jpeg", ".jpe"), "JPEG image"),
}
SNIFFED_PREFIX = 1024  # browsers sniff markup in the first 512 bytes; twice that leaves no doubt
_MARKUP = re.compile(rb"<\s*(?:!doctype|html|head|body|script|svg|iframe|object|embed|\?xml|meta|a\s)", re.I)
# Names (PDF 32000-1, 12.6 and 7.11) that make a PDF act when opened rather than only be read.
_PDF_ACTIVE = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFiles?|RichMedia|XFA|SubmitForm|ImportData)\b")
_PDF_END = re.compile(rb"%%EOF\s*\Z")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Refused(ValueError):
    """The file is not one that may be attached; the message says why."""


def sniff(data: bytes, filename: str = "") -> Kind:
    """The file's kind, read from its content; :class:`Refused` with the reason when it is not acceptable.

    ``filename`` is checked only for agreeing with the content: a known extension naming another kind is
    refused, since the person who picked the file believes it is something it is not.
    """
    if not data:
        raise Refused("the file is empty")
    media_type = filetype.guess_mime(data)
    kind = KINDS.get(media_type or "")
    if kind is None:
        accepted = ", ".join(k.label for k in KINDS.values())
        raise Refused(f"only these files can be attached: {accepted} (this one is {media_type or 'not one of them'})")
    if _MARKUP.search(data[:SNIFFED_PREFIX]):
        raise Refused(f"the file starts as a {kind.label} but holds web page markup a browser would run")
    if zipfile.is_zipfile(io.BytesIO(data)):
        raise Refused(f"the file is a {kind.label} and also a ZIP archive")
    {"application/pdf": _check_pdf, "image/png": _check_png, "image/jpeg": _check_jpeg}[kind.media_type](data, kind)
    _check_name(filename, kind)
    return kind


def _check_name(filename: str, kind: Kind) -> None:
    extension = _extension(filename)
    named = next((k for k in KINDS.values() if extension in k.extensions), None)
    if named is not None and named is not kind:
        raise Refused(f"the file is named as a {named.label} but is a {kind.label}")


def _extension(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:].lower() if dot > 0 else ""


def download_name(filename: str, kind: Kind) -> str:
    """The name to download the file under: as uploaded, with the kind's extension added if it lacks one."""
    return filename if _extension(filename) in kind.extensions else f"{filename}{kind.extensions[0]}"


def _check_png(data: bytes, kind: Kind) -> None:
    end = _png_end(data)
    if end is None:
        raise Refused("the PNG image is cut short or damaged")
    if data[end:].strip(b"\0"):
        raise Refused(f"the PNG image has {len(data) - end} bytes of other data after its end")
    _decodes(data, "PNG")


def _png_end(data: bytes) -> int | None:
    """Where the PNG's ``IEND`` chunk ends, walking chunk by chunk (length, type, data, CRC)."""
    at = len(_PNG_SIGNATURE)
    while at + 12 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        chunk_type = data[at + 4:at + 8]
        at += 12 + length
        if chunk_type == b"IEND":
            return at if at <= len(data) else None
    return None


def _check_jpeg(data: bytes, kind: Kind) -> None:
    end = data.rfind(b"\xff\xd9")
    if end < 0:
        raise Refused("the JPEG image is cut short or damaged")
    if data[end + 2:].strip(b"\0"):
        raise Refused(f"the JPEG image has {len(data) - end - 2} bytes of other data after its end")
    _decodes(data, "JPEG")


def _decodes(data: bytes, format_name: str) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != format_name:
                raise Refused(f"the file claims to be {format_name} but decodes as {image.format}")
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, Refused):
            raise
        raise Refused(f"the {format_name} image cannot be read: {exc}") from None


def _check_pdf(data: bytes, kind: Kind) -> None:
    if not _PDF_END.search(data[-1024:]):
        raise Refused("the PDF document has other data after its end (or is cut short)")
    if found := _PDF_ACTIVE.search(data):
        raise Refused(f"the PDF document holds active content ({found.group().decode()}); print it to PDF again")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise Refused("the PDF document is encrypted; a monitor could not read it")
        pages = len(reader.pages)
        # Object streams hide names from the byte scan above: look where actions live once decompressed.
        root = reader.trailer["/Root"]
        hidden = [name for name in ("/OpenAction", "/AA", "/Names") if name in root and _acts(root[name])]
    except Refused:
        raise
    except (PdfReadError, KeyError, ValueError, TypeError, OSError) as exc:
        raise Refused(f"the PDF document cannot be read: {exc}") from None
    if pages == 0:
        raise Refused("the PDF document has no pages")
    if hidden:
        raise Refused(f"the PDF document holds active content ({', '.join(hidden)}); print it to PDF again")


def _acts(value, depth: int = 0) -> bool:
    """True when a catalog entry holds (at any depth up to a few levels) an action that runs or embeds."""
    if depth > 6:
        return False
    value = value.get_object() if hasattr(value, "get_object") else value
    if isinstance(value, dict):
        if {"/JS", "/JavaScript", "/EmbeddedFiles", "/Launch"} & set(value):
            return True
        if value.get("/S") in ("/JavaScript", "/Launch", "/ImportData", "/SubmitForm"):
            return True
        return any(_acts(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_acts(v, depth + 1) for v in value)
    return False
