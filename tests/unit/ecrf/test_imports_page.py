"""The data manager's import page: an upload is a dry run with a preview; confirming imports; refusals download."""

import io
import re
import time

from conftest import login, token_in

LAB = b"subject,site,visit,LBDTC,ALT\n01-001,01,SCREEN,2026-03-01,35\n01-002,01,D28,2026-03-29,fifty\n"


def finished(client, path: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while True:
        page = client.get(path).get_data(as_text=True)
        if 'data-state="running"' not in page or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def test_upload_previews_then_confirm_imports_and_refusals_download(client):
    login(client, "dm")
    page = client.get("/studies/MINI/imports").get_data(as_text=True)
    assert 'id="nav-imports"' in page
    response = client.post("/studies/MINI/imports", data={
        "csrf_token": token_in(page), "file": (io.BytesIO(LAB), "lab.csv"), "kind": "csv", "form": "LB",
        "event": "", "event_column": "visit"}, content_type="multipart/form-data")
    assert response.status_code == 302
    preview = finished(client, response.headers["Location"])
    assert "dry run" in preview and 'id="confirm-import"' in preview
    assert re.findall(r'data-outcome="(\w+)"', preview) == ["created", "refused"]
    assert "&#39;fifty&#39; is not a number" in preview
    confirm = re.search(r'action="([^"]+/confirm)"', preview).group(1)
    done = client.post(confirm, data={"csrf_token": token_in(preview)})
    imported = finished(client, done.headers["Location"])
    assert 'id="confirm-import"' not in imported and re.findall(r'data-outcome="(\w+)"', imported) == [
        "created",
        "refused",
    ]
    refused = client.get(re.search(r'id="download-refused" href="([^"]+)"', imported).group(1))
    assert refused.mimetype == "text/csv"
    assert refused.get_data(as_text=True).lstrip("\ufeff").splitlines()[1].startswith("3,01-002,D28,LB,/ALT,ALT,")


def test_the_page_speaks_chinese_and_is_for_data_managers_only(client):
    login(client, "dm")
    client.get("/lang/zh")
    assert "预览（试运行）" in client.get("/studies/MINI/imports").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": token_in(client.get("/studies/MINI/imports").get_data(as_text=True))})
    login(client, "staff01")
    assert client.get("/studies/MINI/imports").status_code == 403
