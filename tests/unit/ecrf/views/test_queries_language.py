"""The queries list and a record's query panel in the reader's language, with times at the site and its zone."""

import re

from tests.conftest import login


def _raise_alt_query(staff, subject):
    staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 130})  # ALT_LIMIT fails: a system query


def _queries_page(client, lang: str) -> str:
    login(client, "mon01")
    client.get(f"/lang/{lang}")
    return client.get("/studies/MINI/queries").get_data(as_text=True)


def test_the_queries_page_in_chinese_shows_chinese_states_origins_and_the_check_text_only_in_chinese(
        client, staff, subject):
    _raise_alt_query(staff, subject)
    page = _queries_page(client, "zh")
    assert re.search(r'<td class="state">开放</td>', page)
    assert "<td>系统" in page and "开放至少（天）" in page and '<option value="answered" >已回复</option>' in page
    assert "ALT 高于 3 倍正常上限" in page and "ALT above 3 x ULN" not in page


def test_the_queries_page_in_english_shows_the_check_text_only_in_english(client, staff, subject):
    _raise_alt_query(staff, subject)
    page = _queries_page(client, "en")
    assert "ALT above 3 x ULN" in page and "ALT 高于" not in page
    assert '<td class="state">open</td>' in page


def test_the_queries_page_shows_when_a_query_was_opened_in_site_time_with_its_zone(client, staff, subject):
    _raise_alt_query(staff, subject)  # site 01 is in Asia/Shanghai (UTC+8)
    opened = re.search(r'<td class="opened">([^<]+)</td>', _queries_page(client, "zh")).group(1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CST", opened), opened


def test_the_api_keeps_a_system_query_text_in_english_and_the_record_page_thread_in_the_readers_language(
        client, staff, subject):
    _raise_alt_query(staff, subject)
    (query,) = staff.get(f"/studies/MINI/queries?subject={subject}").get_json()
    assert query["messages"][0]["text"] == "ALT above 3 x ULN"
    login(client, "staff01")
    client.get("/lang/zh")
    page = client.get(f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/LB").get_data(as_text=True)
    thread = re.search(r'<ol class="thread">(.*?)</ol>', page, re.S).group(1)
    assert "ALT 高于 3 倍正常上限" in thread and "ALT above" not in thread and "CST" in thread and "UTC" not in thread


def test_an_automatic_close_reads_in_the_readers_language(client, staff, subject):
    _raise_alt_query(staff, subject)
    staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05", "ALT": 31}, version=1, reason="decimal point")
    login(client, "mon01")
    client.get("/lang/zh")
    page = client.get("/studies/MINI/queries?state=closed").get_data(as_text=True)
    assert "已自动关闭：数据现已通过核查（change 2 by staff01）" in page and "已关闭" in page
