"""The request's language (session, then browser), the catalogs behind translate, query messages per reader."""

import pytest

from ecrf import i18n, i18n_sync


@pytest.mark.parametrize(("chosen", "header", "expected"), [
    ("zh", "en-GB,en;q=0.9", "zh"),  # the session's choice beats the browser
    ("en", "zh-CN,zh;q=0.9", "en"),
    (None, "zh-CN,zh;q=0.9,en;q=0.5", "zh"),  # no choice: the browser's preference
    (None, "fr-FR,fr;q=0.9", "en"),  # a language we do not have: English
    ("xx", "zh", "zh"),  # an unknown choice in the session is ignored
    (None, None, "en"),
])
def test_the_locale_selector_prefers_the_session_then_the_browser(app, chosen, header, expected):
    headers = {"Accept-Language": header} if header else {}
    with app.test_request_context("/", headers=headers):
        if chosen:
            i18n.session["lang"] = chosen
        assert i18n.current_language() == expected


def test_translate_reads_the_compiled_catalog_and_falls_back_to_english(app):
    with app.test_request_context("/", headers={"Accept-Language": "zh"}):
        assert i18n.translate("Queries") == "质疑"
        assert i18n.translate("Queries", "en") == "Queries"
        assert i18n.translate("no such words anywhere") == "no such words anywhere"


def test_a_late_word_not_yet_in_the_catalog_is_still_translated(app, monkeypatch):
    monkeypatch.setitem(i18n.WORDS["zh"], "A late addition", "后来加的")
    with app.test_request_context("/"):
        assert i18n.translate("A late addition", "zh") == "后来加的"


def test_sync_adds_late_words_but_keeps_the_catalogs_translation():
    catalog = i18n_sync.load_catalog("zh")
    added = i18n_sync.merge_words(catalog, {"Queries": "别的", "A late addition": "后来加的"})
    assert added == ["A late addition"]
    assert catalog.get("Queries").string == "质疑" and catalog.get("A late addition").string == "后来加的"


def test_the_committed_mo_is_the_compiled_po():
    assert i18n_sync.main(["--check"]) == 0, "run python -m ecrf.i18n_sync"


@pytest.mark.parametrize(("message", "lang", "expected"), [
    ({"text": "ALT high", "texts": {"en": "ALT high", "zh": "ALT 高"}}, "zh", "ALT 高"),
    ({"text": "ALT high", "texts": {"en": "ALT high", "zh": "ALT 高"}}, "en", "ALT high"),
    ({"text": "Only English", "texts": {"en": "Only English"}}, "zh", "Only English"),
    ({"text": "x", "key": "item no longer applies (%(change)s)", "args": {"change": "change 2 by a"}}, "zh",
     "条目不再适用（change 2 by a）"),
    ({"text": "please check the date"}, "zh", "please check the date"),  # a person's words stay as written
])
def test_a_query_message_is_shown_in_the_readers_language_only(app, message, lang, expected):
    with app.test_request_context("/"):
        assert i18n.message_text(message, lang) == expected
