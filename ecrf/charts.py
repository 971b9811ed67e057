"""Charts drawn on the server as SVG (matplotlib, no browser library): each sits beside its numbers.

Every word a chart shows (titles, axes, legends) is in the reader's language: ``lang``, else the request's.
A chart asked for again with the same data in the same language is the one drawn before (:data:`DRAWN`).
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
from flask import has_request_context  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.layout_engine import TightLayoutEngine  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ecrf.i18n import current_language, translate  # noqa: E402
from ecrf.memo import Memo  # noqa: E402

COLOURS = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#c62828", "#00838f", "#5d4037"]
GRADE_COLOURS = {0: "#cfd8dc", 1: "#fff176", 2: "#ffb74d", 3: "#e57373", 4: "#b71c1c", 5: "#000000"}
# Chinese words need a CJK font: matplotlib falls back glyph by glyph along the families given (those installed).
CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei")
_installed = {font.name for font in font_manager.fontManager.ttflist}
matplotlib.rcParams["font.family"] = ["DejaVu Sans", *(name for name in CJK_FONTS if name in _installed)]


# A reports page draws about ten charts, and mostly the same ones again on the next view: kept per process,
# a few pages' worth (a chart of a thousand subjects is ~200 kB of SVG).
DRAWN = Memo(entries=48)


def _reader_language() -> str | None:
    """What a chart's words depend on besides its arguments: the request's language, when ``lang`` is not given."""
    return current_language() if has_request_context() else None


def _(text: str, lang: str | None) -> str:
    """The chart's word in ``lang``, else in the request's language (English outside a request)."""
    return translate(text, lang) if lang or has_request_context() else text


def _svg(figure: Figure, rect: tuple[float, float, float, float] | None = None) -> str:
    # The tight margins are applied once, as plain subplot parameters: figure.tight_layout() would leave a
    # layout engine on the figure, and savefig then draws the whole figure once more before drawing it for real.
    # No ``rect`` unless one is needed: with one, the margins are reckoned twice.
    TightLayoutEngine(rect=rect).execute(figure)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _figure(width: float = 6.4, height: float = 3.2):
    # A Figure of its own, not pyplot's: no global registry of open figures to close, safe in a threaded server.
    figure = Figure(figsize=(width, height))
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _counts_axis(axes) -> None:
    """A y-axis of whole numbers from 0: counts of subjects or queries (one subject is not 0.96–1.04)."""
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(bottom=0, top=max(1, axes.get_ylim()[1]))


def _categories(axes, labels: list[str]) -> range:
    """Positions 0, 1, … on the x-axis, each ticked with its label: what a categorical axis shows for distinct labels.

    Plotting at numbers, not at the label strings, skips matplotlib's unit conversion of every artist's
    data through the category mapping (a good part of the time of a chart of many bars).
    """
    positions = range(len(labels))
    axes.set_xticks(positions, labels)
    return positions


@DRAWN.remember(_reader_language)
def enrollment_chart(report: dict, lang: str | None = None) -> str:
    """Cumulative enrollment by site over months."""
    figure, axes = _figure()
    months = _categories(axes, [row["month"] for row in report["cumulative"]])
    for n, site in enumerate(report["sites"]):
        axes.step(months, [row.get(site, 0) for row in report["cumulative"]], where="post",
                  label=_("site %(site)s", lang) % {"site": site}, color=COLOURS[n % len(COLOURS)])
    axes.set_ylabel(_("subjects (cumulative)", lang))
    _counts_axis(axes)
    axes.legend(frameon=False)
    axes.tick_params(axis="x", rotation=45)
    return _svg(figure)


@DRAWN.remember(_reader_language)
def bars(labels: list[str], values: list[float], ylabel: str, colour: str = COLOURS[0], lang: str | None = None) -> str:
    """A plain bar chart (``ylabel`` in the reader's language)."""
    figure, axes = _figure()
    axes.bar(_categories(axes, [str(label) for label in labels]), values, color=colour)
    axes.set_ylabel(_(ylabel, lang))
    _counts_axis(axes)
    axes.tick_params(axis="x", rotation=45)
    return _svg(figure)


@DRAWN.remember(_reader_language)
def grade_by_day_chart(report: dict, title: str, lang: str | None = None) -> str:
    """Subjects at each grade per day after infusion (stacked bars)."""
    figure, axes = _figure()
    days = report["days"]
    positions = _categories(axes, [str(d) for d in days])
    bottom = [0] * len(days)
    for grade in range(0, 5):
        heights = [report["by_day"][d].get(grade, 0) for d in days]
        if any(heights):
            axes.bar(positions, heights, bottom=bottom, color=GRADE_COLOURS[grade],
                     label=_("grade %(grade)s", lang) % {"grade": grade})
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    axes.set_xlabel(_("day after infusion", lang))
    axes.set_ylabel(_("Subjects", lang))
    _counts_axis(axes)
    axes.set_title(_(title, lang))
    axes.legend(frameon=False, fontsize=8)
    return _svg(figure)


@DRAWN.remember(_reader_language)
def response_chart(rates: list[dict], lang: str | None = None) -> str:
    """Every infused subject at each response visit: CR, PR, NR assessed, then non-responders by intention-to-treat."""
    figure, axes = _figure()
    visits = _categories(axes, [r["visit"] for r in rates])
    bottom = [0] * len(visits)
    for key, label, colour in (("CR", "CR", "#2e7d32"), ("PR", "PR", "#81c784"), ("NR", "NR", "#cfd8dc"),
                               ("not_assessed", "not assessed (NR, ITT)", "#eceff1"),
                               ("died_before", "died before the visit (NR, ITT)", "#455a64")):
        heights = [r[key] for r in rates]
        if any(heights):
            axes.bar(visits, heights, bottom=bottom, color=colour, label=_(label, lang), edgecolor="#90a4ae",
                     linewidth=0.5)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    axes.set_ylabel(_("infused subjects", lang))
    _counts_axis(axes)
    axes.legend(frameon=False, fontsize=7)
    return _svg(figure)


@DRAWN.remember(_reader_language)
def km_chart(curves: dict[str, dict], lang: str | None = None) -> str:
    """Kaplan–Meier curves, each censored observation marked on its curve, with the numbers at risk underneath."""
    figure, axes = _figure(6.4, 3.8)
    for n, (label, curve) in enumerate(curves.items()):
        if curve["times"]:
            axes.step(curve["times"], curve["survival"], where="post", label=_(label, lang), color=COLOURS[n])
        if curve.get("censored"):
            axes.plot([t for t, _ in curve["censored"]], [s for _, s in curve["censored"]], linestyle="none",
                      marker="|", markersize=8, color=COLOURS[n])
    axes.plot([], [], linestyle="none", marker="|", markersize=8, color="#607d8b",
              label=_("censored", lang))
    axes.set_ylim(0, 1.05)
    axes.set_xlabel(_("days after infusion", lang))
    axes.set_ylabel(_("probability", lang))
    axes.legend(frameon=False)
    day = _("d%s", lang)
    lines = [_("at risk, %(curve)s", lang) % {"curve": _(label, lang)} + ": "
             + "  ".join(f"{day % t}: {n}" for t, n in curve["at_risk"]) for label, curve in curves.items()]
    for n, line in enumerate(lines):
        # Out of the margins' reckoning: the axes keep the bottom strip free for these lines (``rect`` below).
        figure.text(0.01, 0.01 + 0.05 * (len(lines) - 1 - n), line, fontsize=7).set_in_layout(False)
    return _svg(figure, rect=(0, 0.06 * len(lines), 1, 1))


FEW_SUBJECTS = 20  # up to this many, one marked line per subject; beyond it the spread by visit over faint lines


@DRAWN.remember(_reader_language)
def counts_chart(counts: dict, ylabel: str, lang: str | None = None) -> str:
    """Blood counts over study days, as :func:`ecrf.efficacy.blood_counts` gives one analyte's.

    Up to :data:`FEW_SUBJECTS` subjects: one coloured line per subject, points marked. Beyond that a
    line per subject says nothing (and one SVG element per point made the page megabytes): each
    subject's line is drawn faint, all of them as one bitmap, under the median and interquartile range by visit.
    """
    series, visits = counts["subjects"], counts["visits"]
    figure, axes = _figure()
    if len(series) <= FEW_SUBJECTS:
        for n, (subject, points) in enumerate(series.items()):
            axes.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=subject,
                      color=COLOURS[n % len(COLOURS)], linewidth=1)
        if len(series) <= 8:
            axes.legend(frameon=False, fontsize=7)
    else:
        faint = LineCollection([points for points in series.values()], colors="#b0bec5", linewidths=0.5, alpha=0.5,
                               rasterized=True)
        axes.add_collection(faint)
        axes.autoscale_view()
        if visits:
            days = [v["day"] for v in visits]
            band = axes.fill_between(days, [v["q1"] for v in visits], [v["q3"] for v in visits], color=COLOURS[0],
                                     alpha=0.35, linewidth=0, zorder=3)  # over the subjects' lines, not under
            (median,) = axes.plot(days, [v["median"] for v in visits], color=COLOURS[0], linewidth=2, marker=".",
                                  zorder=4)
            axes.legend([median, band], [_("median", lang), _("interquartile range", lang)],
                        frameon=False, fontsize=7)
    axes.set_xlabel(_("day after infusion", lang))
    axes.set_ylabel(ylabel)
    return _svg(figure)
