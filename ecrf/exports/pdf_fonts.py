"""The fonts a PDF export draws its text in: one for Latin script with sub- and superscripts (SpO₂, ×10⁹/L)
and one for Chinese, both TrueType so ReportLab embeds the glyphs it uses.

Noto Sans CJK as Debian ships it (fonts-noto-cjk) has PostScript (CFF) outlines, which ReportLab refuses
("postscript outlines are not supported"), so the Chinese font is a TrueType one from Debian
(fonts-wqy-zenhei, else fonts-droid-fallback), and on a machine with neither, ReportLab's built-in
STSong-Light (a CID font the viewer supplies, never embedded). The Latin font is Noto Sans: Debian's
(fonts-noto-core) when installed, else the copy the ``fontpkg-noto-sans`` package ships (a dependency,
so a bare machine has it), else DejaVu Sans (Debian's, or matplotlib's own copy).
Text is drawn run by run: Chinese characters in the Chinese font, everything else in the Latin one.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont

LATIN, LATIN_BOLD, CJK = "ecrf-latin", "ecrf-latin-bold", "ecrf-cjk"
BUILT_IN_CJK = "STSong-Light"


def _package_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)), *parts)


# (path, subfont index) in the order tried; a missing or unreadable file is passed over.
LATIN_FONTS = [
    (Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"), 0),
    (_package_file("fontpkg_noto_sans", "files", "NotoSans[wdth,wght].ttf"), 0),
    (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), 0),
    (_package_file("matplotlib", "mpl-data", "fonts", "ttf", "DejaVuSans.ttf"), 0),
]
LATIN_BOLD_FONTS = [
    (Path("/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf"), 0),
    (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"), 0),
    (_package_file("matplotlib", "mpl-data", "fonts", "ttf", "DejaVuSans-Bold.ttf"), 0),
]
CJK_FONTS = [
    (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0),
    (Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"), 0),
]
# Han, kana, hangul, CJK punctuation and full-width forms: the characters drawn in the Chinese font.
_CJK_RUN = re.compile(r"([\u2e80-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]+)")


@dataclass(frozen=True)
class PdfFonts:
    """The registered font names, and the files they came from (None: ReportLab's built-in CID font)."""

    latin: str
    bold: str
    cjk: str
    latin_file: Path
    cjk_file: Path | None

    def markup(self, text: str) -> str:
        """``text`` escaped for a ReportLab paragraph, its Chinese runs set in the Chinese font."""
        return "".join(f'<font face="{self.cjk}">{escape(part)}</font>' if index % 2 else escape(part)
                       for index, part in enumerate(_CJK_RUN.split(text)))


def _first_readable(name: str, candidates: list[tuple[Path | None, int]]) -> Path | None:
    for path, index in candidates:
        if path is None or not path.is_file():
            continue
        try:
            pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=index))
        except (TTFError, OSError):
            continue
        return path
    return None


@cache
def pdf_fonts() -> PdfFonts:
    """Register the fonts once per process and say which were found.

    :raise RuntimeError: no Latin TrueType font at all (matplotlib, a dependency, ships one, so only a
        broken install gets here).
    """
    latin_file = _first_readable(LATIN, LATIN_FONTS)
    if latin_file is None:
        raise RuntimeError("no TrueType font for PDFs: install fonts-noto-core or the fontpkg-noto-sans package")
    bold = LATIN_BOLD if _first_readable(LATIN_BOLD, LATIN_BOLD_FONTS) else LATIN
    pdfmetrics.registerFontFamily(LATIN, normal=LATIN, bold=bold, italic=LATIN, boldItalic=bold)
    cjk_file = _first_readable(CJK, CJK_FONTS)
    if cjk_file is None:
        pdfmetrics.registerFont(UnicodeCIDFont(BUILT_IN_CJK))
    return PdfFonts(LATIN, bold, CJK if cjk_file else BUILT_IN_CJK, latin_file, cjk_file)
