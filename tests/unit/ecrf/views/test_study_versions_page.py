"""The data manager's study page: a zip upload checked and loaded, activation per site, a migration job."""

import io
import time
import zipfile
from pathlib import Path

import pytest
from conftest import Api, login, token_in

from tests.amendment import make_v2


def _zip(folder: Path, extra: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in folder.rglob("*.json"):
            archive.write(file, f"v2/{file.relative_to(folder)}")
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture
def dm_client(cd7_app):
    client = cd7_app.test_client()
    login(client, "dm")
    return client


PAGE = "/studies/CD7_CART_SAA/versions"


def _upload(client, content: bytes):
    token = token_in(client.get(PAGE).get_data(as_text=True))
    return client.post(f"{PAGE}/upload", data={"csrf_token": token, "up-csrf_token": token,
                                               "up-file": (io.BytesIO(content), "v2.zip")},
                       content_type="multipart/form-data")


def test_an_upload_is_checked_loaded_and_diffed_against_the_current_version(dm_client, tmp_path):
    response = _upload(dm_client, _zip(make_v2(tmp_path / "v2")))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "Version 2.0.0 loaded" in page
    assert "form APH item /APHAE: item:" in page
    assert 'data-version="2.0.0"' in dm_client.get(PAGE).get_data(as_text=True)


@pytest.mark.parametrize("name", ["../evil.json", "/etc/evil.json", "v2/notes.txt"])
def test_an_unsafe_zip_is_refused_naming_the_file_field(dm_client, tmp_path, name):
    response = _upload(dm_client, _zip(make_v2(tmp_path / "v2"), {name: "{}"}))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "File: " in page  # the field named by its label (messages by kind: never a JSON pointer on a page)
    assert 'data-version="2.0.0"' not in dm_client.get(PAGE).get_data(as_text=True)


def test_a_broken_study_shows_its_faults_and_loads_nothing(dm_client, tmp_path):
    folder = make_v2(tmp_path / "v2")
    (folder / "preconditioning" / "APH.json").write_text("{")
    response = _upload(dm_client, _zip(folder))
    assert response.status_code == 422
    assert "preconditioning/APH.json: /: not valid JSON" in response.get_data(as_text=True)


def test_site_staff_may_not_open_the_page(cd7_app):
    client = cd7_app.test_client()
    login(client, "staff01")
    assert client.get(PAGE).status_code == 403


def test_activation_and_a_migration_job_from_the_page(cd7_app, dm_client, tmp_path):
    staff = Api(cd7_app.test_client(), cd7_app.tokens["staff01"], "CD7_CART_SAA")
    subject = staff.register("01")
    staff.save(subject, "APH", "APH", {"APHDTC": "2026-01-05", "APHVOL": 10, "APHCD3": 100, "APHAE": True})
    _upload(dm_client, _zip(make_v2(tmp_path / "v2")))
    token = token_in(dm_client.get(PAGE).get_data(as_text=True))
    activated = dm_client.post(f"{PAGE}/activate", data={"csrf_token": token, "act-csrf_token": token,
                                                         "act-version": "2.0.0", "act-site": "01",
                                                         "act-approved": "2026-01-02"})
    assert activated.status_code == 302
    assert "2026-01-02" in dm_client.get(PAGE).get_data(as_text=True)
    started = dm_client.post(f"{PAGE}/migrate", data={"csrf_token": token, "mig-csrf_token": token,
                                                      "mig-to_version": "2.0.0", "mig-site": "01",
                                                      "mig-reason": "Amendment 2", "mig-dry_run": ""})
    assert started.status_code == 302
    job_page = started.headers["Location"]
    for _ in range(200):  # the job runs on a thread: follow its state, as the page's refresh does
        page = dm_client.get(job_page).get_data(as_text=True)
        if 'data-state="running"' not in page:
            break
        time.sleep(0.05)
    assert 'data-state="done"' in page, page
    assert f'data-subject="{subject}"' in page and "migrated" in page
    report = dm_client.get(f"{job_page}/report.json").get_json()
    assert report["counts"] == {"migrated": 1}
    record = staff.get(staff.record_path(subject, "APH", "APH")).get_json()
    assert record["retired"] == {"APHAE": True} and record["missing"] == ["/APHNEW"]
