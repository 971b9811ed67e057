"""Hostile text refused at every entry point: 422 naming the field, and nothing stored.

One table of hostile strings (each control character class, lone surrogates, non-characters, invisible
bidirectional and zero-width characters, very long text) against every text field of the API and of the
HTML forms; line breaks and tabs only where multi-line text belongs.
"""

from __future__ import annotations

import io
import uuid

import pytest
from conftest import OVERRIDDEN, SIGNING, Api, login, make_app, token_in

HOSTILE = {
    "C0 control": "bad\x01char",
    "NUL": "a\x00b",
    "escape sequence": "a\x1b[31mred",
    "DEL": "a\x7fb",
    "C1 control": "a\x85b",
    "lone high surrogate": "a\ud800b",
    "lone low surrogate": "a\udfffb",
    "non-character U+FFFF": "a\uffffb",
    "non-character U+FDD0": "a\ufdd0b",
    "non-character U+1FFFE": "a\U0001fffeb",
    "right-to-left override": "invoice\u202egpj.exe",
    "right-to-left isolate": "a\u2067b",
    "zero-width space": "a\u200bb",
    "byte order mark": "\ufeffab",
    "line separator": "a\u2028b",
    "very long": "a" * 100_000,
}
LINE_BREAKS = {"line feed": "a\nb", "carriage return": "a\rb", "tab": "a\tb"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One app for the module (refused requests change nothing, which each test checks): a subject with saved
    records, an adverse event row, an open and a closed query."""
    app = make_app(tmp_path_factory.mktemp("text"), "mongomock://")
    client = app.test_client()
    staff, monitor = Api(client, app.tokens["staff01"]), Api(client, app.tokens["mon01"])
    subject = staff.register()
    assert staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70}).status_code == 201
    assert staff.save(subject, "SCREEN", "DM",
                      {"SEX": "M", "BRTHDTC": "1980-01-01", "NOTES": "first"}).status_code == 201
    assert staff.save(subject, "LOGS", "AE", {"AE": [{"AETERM": "fever", "AESTDTC": "2026-01-06"}]}).status_code == 201
    row = staff.get(staff.record_path(subject, "LOGS", "AE")).get_json()["data"]["AE"][0]["row_id"]
    opened = monitor.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                    "item": "/WEIGHT", "text": "please check"}).get_json()["id"]
    closed = monitor.post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "VS",
                                                    "item": "/HEIGHT", "text": "please check"}).get_json()["id"]
    assert monitor.post(f"/studies/MINI/queries/{closed}/close", {"text": "fine"}).status_code == 200
    return {"app": app, "client": client, "subject": subject, "row": row, "open": opened, "closed": closed}


def stored(app) -> dict:
    """Every document of every collection: what a refused request must leave as it was."""
    with app.app_context():
        from ecrf.db import database

        db = database()
        return {name: sorted(map(repr, db[name].find())) for name in sorted(db.list_collection_names())}


def api(world, name: str) -> Api:
    return Api(world["client"], world["app"].tokens[name])


def record_path(world, event="SCREEN", form="VS"):
    return f"/studies/MINI/subjects/{world['subject']}/events/{event}/forms/{form}"


# Each API entry point: (who, method, path, body with the text, the pointer named, whether line breaks belong).
def api_entry_points(world, text: str) -> dict:
    subject, row = world["subject"], world["row"]
    query = {"subject": subject, "event": "SCREEN", "form": "VS"}
    return {
        "subject id": ("staff01", "post", "/studies/MINI/subjects", {"site": "01", "subject_id": text}, "/subject_id",
                       False),
        "subject site": ("staff01", "post", "/studies/MINI/subjects", {"site": text}, "/site", False),
        "text item in a row": ("staff01", "put", record_path(world, "LOGS", "AE"),
                               {"data": {"AE": [{"row_id": row, "AETERM": text, "AESTDTC": "2026-01-06"}]},
                                "version": 1,
                                "reason": "typo"}, "/AE/", False),
        "multi-line item": ("staff01", "put", record_path(world, "SCREEN", "DM"),
                            {"data": {"NOTES": text}, "version": 1, "reason": "typo"}, "/NOTES", True),
        "reason for change": ("staff01", "put", record_path(world),
                              {"data": {"WEIGHT": 71}, "version": 1, "reason": text}, "/reason", True),
        "item name": ("staff01", "put", record_path(world), {"data": {text: 1}, "version": 1, "reason": "x"},
                      "/", False),
        "query text": ("mon01", "post", "/studies/MINI/queries", {**query, "item": "/WEIGHT", "text": text}, "/text",
                       True),
        "query item": ("mon01", "post", "/studies/MINI/queries", {**query, "item": text, "text": "check"}, "/item",
                       False),
        "query reply": ("staff01", "post", f"/studies/MINI/queries/{world['open']}/replies", {"text": text}, "/text",
                        True),
        "query close": ("mon01", "post", f"/studies/MINI/queries/{world['open']}/close", {"text": text}, "/text", True),
        "query reopen": ("mon01", "post", f"/studies/MINI/queries/{world['closed']}/reopen", {"text": text}, "/text",
                         True),
        "signature meaning": ("inv01", "post", record_path(world) + "/sign", {**SIGNING, "meaning": text},
                              "/meaning", False),
        "lock reason": ("dm", "post", record_path(world) + "/lock", {"reason": text, **OVERRIDDEN}, "/reason", True),
        "unlock reason": ("dm", "post", record_path(world) + "/unlock", {"reason": text}, "/reason", True),
        "freeze reason": ("dm", "post", f"/studies/MINI/subjects/{subject}/freeze", {"reason": text, **OVERRIDDEN},
                          "/reason", True),
        "SDV item": ("mon01", "post", record_path(world) + "/sdv", {"items": [text]}, "/items/0", False),
    }


API_FIELDS = list(api_entry_points({"subject": "S", "row": "r", "open": "q", "closed": "q"}, ""))


def hostile_cases() -> list:
    return [pytest.param(field, text, id=f"{field}-{kind}") for field in API_FIELDS for kind, text in HOSTILE.items()]


@pytest.mark.parametrize(("field", "text"), hostile_cases())
def test_api_refuses_hostile_text_with_422_naming_the_field_and_stores_nothing(world, field, text):
    who, method, path, body, pointer, _ = api_entry_points(world, text)[field]
    before = stored(world["app"])
    response = getattr(api(world, who), method)(path, body)
    assert response.status_code == 422, (response.status_code, response.get_json())
    paths = [e["path"] for e in response.get_json()["errors"]]
    assert any(p.startswith(pointer) for p in paths), paths
    assert stored(world["app"]) == before


@pytest.mark.parametrize("kind", LINE_BREAKS)
@pytest.mark.parametrize("field", API_FIELDS)
def test_line_breaks_and_tabs_are_refused_in_single_line_fields_only(world, field, kind):
    who, method, path, body, pointer, multiline = api_entry_points(world, LINE_BREAKS[kind])[field]
    if multiline:
        return  # accepted: test_multi_line_text_keeps_its_line_breaks stores some
    before = stored(world["app"])
    response = getattr(api(world, who), method)(path, body)
    assert response.status_code == 422, (response.status_code, response.get_json())
    assert any(e["path"].startswith(pointer) for e in response.get_json()["errors"])
    assert stored(world["app"]) == before


def test_multi_line_text_keeps_its_line_breaks(world):
    staff = api(world, "staff01")
    subject = staff.register()
    notes = "line one\r\nline two\n\tindented — 中文 ok, emoji 👩‍⚕️ with its zero-width joiner"
    response = staff.save(subject, "SCREEN", "DM", {"SEX": "F", "BRTHDTC": "1980-01-01", "NOTES": notes})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data"]["NOTES"] == notes
    query = api(world, "mon01").post("/studies/MINI/queries", {"subject": subject, "event": "SCREEN", "form": "DM",
                                                            "item": "/NOTES", "text": "first line\nsecond line"})
    assert query.status_code == 201 and query.get_json()["messages"][0]["text"] == "first line\nsecond line"


def test_a_refused_key_is_named_by_a_visible_escape(world):
    response = api(world, "staff01").put(record_path(world), {"data": {"WE\ud800IGHT": 1}, "version": 1})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][0]["path"] == "/WE\\ud800IGHT"


@pytest.mark.parametrize(("form", "data", "pointer"), [
    ("VS", {"WEIGHT": {"k": "a\ud800b"}}, "/WEIGHT/k"),
    ("VS", {"WEIGHT": ["a", "b\x02"]}, "/WEIGHT/1"),
    ("AE", {"AE": [{"row_id": "ROW", "AE\x01X": "y", "AETERM": "fever"}]}, "/AE/ROW/AE\\u0001X"),
    ("AE", {"AE": [{"AETERM": "fe\u202ever"}]}, "/AE/0/AETERM"),
])
def test_hostile_text_anywhere_in_a_records_data_is_named_by_its_pointer(world, form, data, pointer):
    event = "LOGS" if form == "AE" else "SCREEN"
    data = {k: [{**r, "row_id": world["row"]} if r.get("row_id") == "ROW" else r for r in v]
            if form == "AE" else v for k, v in data.items()}
    before = stored(world["app"])
    response = api(world, "staff01").put(record_path(world, event, form), {"data": data, "version": 1, "reason": "x"})
    assert response.status_code == 422
    assert [e["path"] for e in response.get_json()["errors"]] == [pointer.replace("ROW", world["row"])]
    assert stored(world["app"]) == before


# ---------------------------------------------------------------- request bodies: depth and size


def nested(depth: int) -> bytes:
    """A JSON object whose innermost value sits ``depth`` arrays and objects deep."""
    return b'{"site": "01", "x": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_json_nested_64_levels_is_parsed_and_65_is_refused_with_400(world):
    staff = api(world, "staff01")
    headers = {**staff.headers(), "Content-Type": "application/json"}
    path = "/api/v1/studies/MINI/subjects"
    at_limit = staff.client.post(path, data=nested(64), headers=headers)
    assert at_limit.status_code == 422  # parsed: the unknown field x is named
    assert [e["path"] for e in at_limit.get_json()["errors"]] == ["/x"]
    for depth in (65, 990, 100_000):
        response = staff.client.post(path, data=nested(depth), headers=headers)
        assert response.status_code == 400 and response.mimetype == "application/problem+json"
        assert "deeper than 64" in response.get_json()["detail"]


def test_brackets_inside_strings_do_not_count_as_nesting():
    from ecrf.limits import json_depth

    assert json_depth(b'{"a": "[[[[{{{{\\"[[[", "b": [[1]]}') == 3
    assert json_depth(b'{"a": "x\\\\", "b": [[1]]}') == json_depth(b'{"a": "x\\\\\\"[[[", "b": [[1]]}') == 3
    assert json_depth(b"[" * 70) == 70 and json_depth(b"") == 0


def test_a_chunked_body_over_the_limit_is_413_and_one_within_it_is_read_whole(world):
    staff = api(world, "staff01")
    headers = {**staff.headers(), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    # wsgi.input_terminated: the server (gunicorn, Werkzeug's own) has de-chunked the body and ends the stream.
    big = b'{"site": "01", "subject_id": "' + b"a" * 3_000_000 + b'"}'
    response = staff.client.post("/api/v1/studies/MINI/subjects", input_stream=io.BytesIO(big), headers=headers,
                                 environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
    small = b'{"site": "01", "subject_id": "CHUNKED-1"}'
    response = staff.client.post("/api/v1/studies/MINI/subjects", input_stream=io.BytesIO(small), headers=headers,
                                 environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 201 and response.get_json()["subject_id"] == "CHUNKED-1"


def test_a_chunked_optional_body_is_read_not_ignored(world):
    dm = api(world, "dm")
    headers = {**dm.headers(), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    response = dm.client.post(f"/api/v1{record_path(world)}/lock",
                              input_stream=io.BytesIO(b'{"reason": "bad\\u0001"}'), headers=headers,
                              environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 422 and response.get_json()["errors"][0]["path"] == "/reason"


# ---------------------------------------------------------------- item paths


@pytest.mark.parametrize("pointer", ["/ECHOCOM/a.b$c", "/WEIGHT/x", "WEIGHT", "/", "", "/NOPE", "/WEIGHT/", "//WEIGHT"])
def test_sdv_of_a_path_that_names_no_item_of_the_form_is_422(world, pointer):
    before = stored(world["app"])
    response = api(world, "mon01").post(record_path(world) + "/sdv", {"items": ["/WEIGHT", pointer]})
    assert response.status_code == 422
    assert [e["path"] for e in response.get_json()["errors"]] == ["/items/1"]
    assert stored(world["app"]) == before


def test_sdv_and_queries_on_a_row_need_a_row_the_record_holds(world):
    monitor = api(world, "mon01")
    ae = record_path(world, "LOGS", "AE")
    for body_path, request in (("/items/0", lambda p: monitor.post(ae + "/sdv", {"items": [p]})),
                               ("/item", lambda p: monitor.post("/studies/MINI/queries", {
                                   "subject": world["subject"], "event": "LOGS", "form": "AE", "item": p,
                                                                                          "text": "?"}))):
        missing = request("/AE/rnotarow0000/AETERM")
        assert missing.status_code == 422 and missing.get_json()["errors"][0]["path"] == body_path
        assert "no row" in missing.get_json()["errors"][0]["message"]
        assert request(f"/AE/{world['row']}/NOPE").status_code == 422
    assert monitor.post(ae + "/sdv", {"items": [f"/AE/{world['row']}/AETERM"]}).status_code == 200


# ---------------------------------------------------------------- HTML forms


def web_post(client, path: str, data: dict, follow: bool = True):
    page = client.get(path if "/do/" not in path else path.split("/do/")[0]).get_data(as_text=True)
    return client.post(path, data={**data, "csrf_token": token_in(page)}, follow_redirects=follow)


@pytest.fixture
def signed_in(world):
    """A fresh browser session for a person (logged in before the test takes its snapshot)."""
    def sign_in(name: str):
        client = world["app"].test_client()
        assert login(client, name).status_code == 302
        return client
    return sign_in


# A browser cannot send a lone surrogate (it encodes U+FFFD instead); the other classes it can.
@pytest.mark.parametrize("kind",
                         ["C0 control", "non-character U+FFFF", "right-to-left override", "non-character U+FDD0"])
def test_html_record_form_refuses_hostile_text_naming_the_items_label(world, signed_in, kind):
    client = signed_in("staff01")
    path = "/studies/MINI/subjects/{}/events/SCREEN/forms/DM".format(world["subject"])
    before = stored(world["app"])
    response = web_post(client, path, {"SEX": "M", "BRTHDTC": "1980-01-01", "NOTES": HOSTILE[kind], "version": "1",
                                       "reason": "typo"}, follow=False)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Notes: " in page and "/NOTES" in page
    assert stored(world["app"]) == before


def test_html_record_form_refuses_a_line_break_in_a_single_line_item_and_hostile_reason(world, signed_in):
    client = signed_in("staff01")
    path = "/studies/MINI/subjects/{}/events/LOGS/forms/AE".format(world["subject"])
    before = stored(world["app"])
    response = web_post(client, path,
                        {"AE-0-row_id": world["row"], "AE-0-AETERM": "fe\nver", "AE-0-AESTDTC": "2026-01-06",
                         "version": "1", "reason": "typo"}, follow=False)
    assert response.status_code == 422
    assert "Term: a line break" in response.get_data(as_text=True)
    response = web_post(client, path.replace("LOGS/forms/AE", "SCREEN/forms/DM"),
                        {"SEX": "F", "BRTHDTC": "1980-01-01", "version": "1", "reason": "wrong\x07sex"}, follow=False)
    assert response.status_code == 422
    assert "Reason for change: control character U+0007" in response.get_data(as_text=True)
    assert stored(world["app"]) == before


PAGE_LABELS = {"/text": "Message", "/reason": "Reason for change", "/name": "Name", "/full_name": "Printed name",
               "/subject": "Subject (optional)", "/unit": "Unit"}


def html_entry_points(world, text: str) -> dict:
    record = "/studies/MINI/subjects/{}/events/SCREEN/forms/VS".format(world["subject"])
    return {
        "query text": ("mon01", "/studies/MINI/queries", {"subject": world["subject"], "event": "SCREEN", "form": "VS",
                                                          "item": "/WEIGHT", "text": text}, "/text"),
        "query reply": ("staff01", f"/studies/MINI/queries/{world['open']}/reply", {"text": text}, "/text"),
        "query reopen": ("mon01", f"/studies/MINI/queries/{world['closed']}/reopen", {"text": text}, "/text"),
        "lock reason": ("dm", record + "/do/lock", {"reason": text, **OVERRIDDEN}, "/reason"),
        "site name": ("root", "/admin/sites", {"site-code": "S9", "site-name": text, "site-timezone": "UTC"}, "/name"),
        "printed name": ("root", "/admin/users", {"user-username": "newbie", "user-full_name": text,
                                                  "user-role": "monitor", "user-sites": "01",
                                                  "user-password": "a long enough password"}, "/full_name"),
        "export subject": ("dm", "/studies/MINI/exports", {"kind": "csv", "subject": text}, "/subject"),
        "range unit": ("dm", "/studies/MINI/ranges", {"site": "01", "analyte": "ALT", "unit": text, "high": "40",
                                                      "valid_from": "2026-01-01"}, "/unit"),
    }


@pytest.mark.parametrize("kind",
                         ["C0 control", "C1 control", "right-to-left override", "zero-width space", "line feed"])
@pytest.mark.parametrize("field", list(html_entry_points({"subject": "S", "open": "q", "closed": "q"}, "")))
def test_html_forms_refuse_hostile_text_naming_the_field_and_store_nothing(world, signed_in, field, kind):
    text = {**HOSTILE, **LINE_BREAKS}[kind]
    who, path, data, pointer = html_entry_points(world, text)[field]
    if kind == "line feed" and pointer in ("/text", "/reason"):
        return  # multi-line fields take line breaks
    client = signed_in(who)
    before = stored(world["app"])
    response = web_post(client, path, data)
    page = response.get_data(as_text=True)
    # A person reads the field's label, never its JSON pointer.
    assert PAGE_LABELS[pointer] + ":" in page and ("not allowed" in page or "line break" in page), page[-2000:]
    assert stored(world["app"]) == before


def test_cli_refuses_a_hostile_site_name(world):
    result = world["app"].test_cli_runner().invoke(args=["sites", "add", f"X{uuid.uuid4().hex[:4]}", "--name",
                                                         "a\x1bb"])
    assert result.exit_code != 0 and "/name" in result.output


# ---------------------------------------------------------------- the rules themselves


@pytest.mark.parametrize("char", ["\u200c", "\u200d", "\u00ad", "é", "中", "👩", "\u00a0"])
def test_ordinary_and_joining_characters_are_accepted(char):
    from ecrf.text import text_fault

    assert text_fault(f"a{char}b") is None


def test_every_refused_character_is_something_xml_cannot_carry_or_hides_what_a_reader_sees():
    from ecrf.text import MULTI_LINE_REFUSED, xml_safe

    for code in range(0x110000):
        char = chr(code)
        if xml_safe(char) != char:
            assert MULTI_LINE_REFUSED.match(char), hex(code)
