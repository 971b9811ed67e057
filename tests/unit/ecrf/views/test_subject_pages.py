"""The subject grid and list: every word they show exists in Chinese too, and no status code reaches the page."""

import re
from pathlib import Path

import pytest
from conftest import login

from ecrf.i18n import translate

TEMPLATES = Path(__file__).resolve().parents[4] / "ecrf" / "templates"
PAGES = ("subject.html", "subjects.html", "_grid_states.html")


@pytest.mark.parametrize("name", PAGES)
def test_every_word_of_the_subject_pages_has_its_chinese(name):
    words = set(re.findall(r"_\('([^']+)'\)", (TEMPLATES / name).read_text()))
    assert words
    assert sorted(w for w in words if translate(w, "zh") == w) == []


def test_the_grid_legend_and_cells_speak_words_not_codes(client, as_user):
    staff = as_user("staff01")
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70})
    login(client, "staff01")
    page = client.get(f"/studies/MINI/subjects/{subject}").get_data(as_text=True)
    legend = page.split('id="grid-legend"')[1].split("</ul>")[0]
    assert "Not started" in legend and "not_started" not in legend.replace("s-not_started", "")
    visible = re.sub(r'="[^"]*"', "", page)  # attribute values aside
    assert "not_started" not in visible and ">screening<" not in visible
    vs = page.split('<tr data-form="VS">')[1].split("</tr>")[0]
    assert 'data-event="SCREEN" data-status="incomplete"' in vs and "Incomplete" in vs
    assert vs.count("<td") == 3 and vs.count('class="none"') == 2  # VS is only at SCREEN
