"""The reports page's charts: well-formed SVG showing the data given, in the reader's language, drawn once per input.

Text is drawn as glyph paths; the SVG writer puts each drawn string in a comment before its glyphs, which is
what these tests read for words and tick labels.
"""

import re
from collections import Counter

import pytest
from lxml import etree

from ecrf import charts

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"


@pytest.fixture(autouse=True)
def forget_drawn_charts():
    charts.DRAWN.clear()
    yield
    charts.DRAWN.clear()


def parsed(svg: str) -> etree._Element:
    assert svg.startswith("<svg")
    return etree.fromstring(svg.encode())


def words(svg: str) -> list[str]:
    """Every string the chart draws (titles, labels, legend entries, tick labels)."""
    return [comment.text.strip() for comment in parsed(svg).iter(etree.Comment)]


def fills(svg: str) -> Counter:
    """How many drawn shapes are filled with each colour."""
    return Counter(re.findall(r"fill: *(#[0-9a-f]{6})", svg))


def marker_uses(svg: str) -> Counter:
    """How many times each marker (tick marks, point markers) is placed."""
    return Counter(use.get(XLINK) for use in parsed(svg).iter(f"{SVG}use") if use.get(XLINK).startswith("#m"))


def glyph_fonts(svg: str) -> set[str]:
    """The fonts of the glyphs drawn, by the ids the writer gives glyph paths (``DejaVuSans-61``)."""
    return {path.get("id").rsplit("-", 1)[0] for path in parsed(svg).iter(f"{SVG}path")
            if re.fullmatch(r"[A-Za-z][\w-]*-[0-9a-f]+", path.get("id") or "")}


def is_whole_number(label: str) -> bool:
    return re.fullmatch(r"[−-]?\d+", label) is not None


TOX = {"days": [0, 1, 2], "by_day": {0: {1: 2, 3: 0}, 1: {1: 3, 3: 1}, 2: {1: 0, 3: 0}}}


def test_stacked_grades_draw_a_bar_per_day_per_grade_present_with_its_legend_entry():
    svg = charts.grade_by_day_chart(TOX, "CRS (ASTCT)")
    colours = fills(svg)
    # Each grade seen on some day: a bar on every day (empty ones of no height) and its legend swatch.
    assert colours[charts.GRADE_COLOURS[1]] == len(TOX["days"]) + 1
    assert colours[charts.GRADE_COLOURS[3]] == len(TOX["days"]) + 1
    assert charts.GRADE_COLOURS[0] not in colours  # no subject at grade 0: no bars, no legend entry
    drawn = words(svg)
    assert {"CRS (ASTCT)", "grade 1", "grade 3", "day after infusion", "Subjects"} <= set(drawn)
    assert "grade 0" not in drawn
    assert {"0", "1", "2"} <= set(drawn)  # the days as tick labels


def test_count_axes_are_whole_numbers():
    for svg in (charts.bars(["<7d", "7-14d"], [1, 2], "Open queries"),
                charts.grade_by_day_chart(TOX, "CRS (ASTCT)"),
                charts.response_chart([{"visit": "D28", "CR": 1, "PR": 0, "NR": 1, "not_assessed": 0,
                                        "died_before": 0}])):
        numbers = [w for w in words(svg) if re.fullmatch(r"[−-]?[\d.]+", w)]
        assert numbers and all(is_whole_number(n) for n in numbers), numbers


def test_enrollment_steps_per_site_with_month_labels():
    report = {"sites": ["01", "02"], "cumulative": [{"month": "2026-01", "01": 1, "02": 0},
                                                    {"month": "2026-02", "01": 3, "02": 2}]}
    drawn = words(charts.enrollment_chart(report))
    assert {"site 01", "site 02", "2026-01", "2026-02", "subjects (cumulative)"} <= set(drawn)


def test_response_legend_names_only_the_categories_present():
    rates = [{"visit": "D28", "CR": 3, "PR": 1, "NR": 0, "not_assessed": 2, "died_before": 0},
             {"visit": "D90", "CR": 2, "PR": 2, "NR": 1, "not_assessed": 0, "died_before": 1}]
    drawn = words(charts.response_chart(rates))
    assert {"CR", "PR", "NR", "not assessed (NR, ITT)", "died before the visit (NR, ITT)", "D28", "D90"} <= set(drawn)
    rates[1]["died_before"] = 0
    assert "died before the visit (NR, ITT)" not in words(charts.response_chart(rates))


def test_km_marks_each_censored_observation_and_lists_the_numbers_at_risk():
    curves = {
        "Overall survival": {"times": [0, 10, 20], "survival": [1.0, 0.8, 0.6],
                             "censored": [(5.0, 1.0), (15.0, 0.8), (25.0, 0.6)], "at_risk": [(0, 10), (90, 4)]},
        "Progression-free survival": {"times": [0, 12], "survival": [1.0, 0.5],
                                      "censored": [(31.0, 0.5), (40.0, 0.5)],
                                      "at_risk": [(0, 10), (90, 3)]},
    }
    svg = charts.km_chart(curves)
    placed = sorted(marker_uses(svg).values())
    # Beside the axes' tick marks: 3 and 2 censoring marks on the curves, 1 in the legend.
    assert {1, 2, 3} <= set(placed)
    drawn = words(svg)
    assert {"Overall survival", "Progression-free survival", "censored", "days after infusion"} <= set(drawn)
    assert "at risk, Overall survival: d0: 10  d90: 4" in drawn
    assert "at risk, Progression-free survival: d0: 10  d90: 3" in drawn


def series(subjects: int) -> dict:
    return {f"S{n:03d}": [(0, 1.0 + n % 3), (7, 2.0), (28, 1.5 + n % 2)] for n in range(subjects)}


VISITS = [{"visit": "D0", "day": 0, "n": 3, "q1": 1.0, "median": 2.0, "q3": 3.0},
          {"visit": "D28", "day": 28, "n": 3, "q1": 1.5, "median": 2.0, "q3": 2.5}]


def test_few_subjects_are_a_marked_line_each_named_in_the_legend():
    svg = charts.counts_chart({"subjects": series(3), "visits": VISITS}, "NEUT")
    assert parsed(svg).find(f".//{SVG}image") is None
    assert {"S000", "S001", "S002", "NEUT", "day after infusion"} <= set(words(svg))
    # Each subject's marker placed at its 3 values and once in the legend (besides the axes' tick marks).
    assert Counter(marker_uses(svg).values())[3 + 1] >= 3


def test_many_subjects_are_faint_lines_in_one_bitmap_under_the_median_and_iqr():
    svg = charts.counts_chart({"subjects": series(charts.FEW_SUBJECTS + 1), "visits": VISITS}, "NEUT")
    images = list(parsed(svg).iter(f"{SVG}image"))
    assert len(images) == 1 and images[0].get(XLINK).startswith("data:image/png;base64,")
    drawn = words(svg)
    assert {"median", "interquartile range", "NEUT"} <= set(drawn)
    assert "S000" not in drawn


def test_chinese_words_are_drawn_in_a_cjk_font():
    svg = charts.grade_by_day_chart(TOX, "CRS (ASTCT)", lang="zh")
    drawn = words(svg)
    assert "day after infusion" not in drawn
    assert any(re.search(r"[\u4e00-\u9fff]", w) for w in drawn)
    # make test installs Debian's fonts-noto-cjk (and fonts-wqy-zenhei): without one, Chinese charts are boxes.
    assert any(name in charts.matplotlib.rcParams["font.family"] for name in charts.CJK_FONTS), \
        "no CJK font installed: apt-get install fonts-noto-cjk"
    assert glyph_fonts(svg) - {"DejaVuSans"}, glyph_fonts(svg)


def test_the_same_chart_is_drawn_once_and_a_changed_one_again():
    report = {"days": [0, 1], "by_day": {0: {1: 2}, 1: {1: 1, 2: 1}}}
    first = charts.grade_by_day_chart(report, "CRS (ASTCT)")
    # The writer's ids and date differ from one drawing to the next: the very same text means not redrawn.
    assert charts.grade_by_day_chart({"days": [0, 1], "by_day": {0: {1: 2}, 1: {1: 1, 2: 1}}}, "CRS (ASTCT)") is first
    report["by_day"][1][3] = 1  # changed in place, as a caller might: the chart shows the change
    changed = charts.grade_by_day_chart(report, "CRS (ASTCT)")
    assert "grade 3" in words(changed) and "grade 3" not in words(first)
    assert charts.grade_by_day_chart(report, "ICANS (ASTCT)") is not changed
    chinese = charts.grade_by_day_chart(report, "CRS (ASTCT)", lang="zh")
    assert chinese is not changed and "grade 3" not in words(chinese)


def test_the_reader_language_of_a_request_is_part_of_what_is_remembered(app):
    report = {"days": [0], "by_day": {0: {1: 2}}}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        english = charts.grade_by_day_chart(report, "CRS (ASTCT)")
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        chinese = charts.grade_by_day_chart(report, "CRS (ASTCT)")
    assert "grade 1" in words(english)
    assert "grade 1" not in words(chinese)

