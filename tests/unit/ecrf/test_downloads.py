"""ecrf.downloads: one casebook download for the subject page and the API; a refused write sends nothing."""

import tempfile

import pytest
from conftest import login

import ecrf.downloads
from ecrf.errors import NotFound


def test_the_subject_page_and_the_api_send_the_casebook_alike(client, staff, subject):
    login(client, "staff01")
    page = client.get(f"/studies/MINI/subjects/{subject}/casebook.pdf")
    api = staff.get(f"/studies/MINI/subjects/{subject}/casebook.pdf")
    for response in (page, api):
        assert response.status_code == 200
        assert response.mimetype == "application/pdf"
        assert response.headers["Content-Disposition"] == f"attachment; filename=casebook-{subject}.pdf"
        assert response.get_data().startswith(b"%PDF")


def test_an_unknown_subject_gets_no_casebook_from_either(client, staff):
    login(client, "staff01")
    assert client.get("/studies/MINI/subjects/NOBODY/casebook.pdf").status_code == 404
    assert staff.get("/studies/MINI/subjects/NOBODY/casebook.pdf").status_code == 404


def test_a_refused_write_closes_its_temporary_file_and_raises(app, monkeypatch):
    spools = []
    real = tempfile.TemporaryFile

    def spool():
        spools.append(real())
        return spools[-1]

    monkeypatch.setattr(ecrf.downloads.tempfile, "TemporaryFile", spool)

    def refuse(_file):
        raise NotFound("no such subject")

    with app.test_request_context(), pytest.raises(NotFound):
        ecrf.downloads.spooled_download(refuse, "application/pdf", "x.pdf")
    assert len(spools) == 1 and spools[0].closed
