"""POST /studies/{study}/imports answers 202 with a job to poll; the job ends with counts and refused rows."""

import io
import time

from conftest import Api

LAB = b"subject,site,visit,LBDTC,ALT\n01-001,01,SCREEN,2026-03-01,35\n01-002,01,D28,2026-03-29,fifty\n"


def upload(api: Api, raw: bytes = LAB, **fields):
    body = {"file": (io.BytesIO(raw), "lab.csv"), "kind": "csv", "form": "LB", "event_column": "visit", **fields}
    return api.client.post(f"/api/v1/studies/{api.study}/imports", data=body, headers=api.headers(),
                           content_type="multipart/form-data")


def poll(api: Api, location: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        job = api.client.get(location, headers=api.headers()).get_json()
        if job["state"] != "running" or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_an_upload_answers_202_with_a_job_that_ends_with_counts_and_refusals(as_user):
    dm = as_user("dm")
    response = upload(dm)
    assert response.status_code == 202, response.get_json()
    started = response.get_json()
    assert response.headers["Location"] == f"/api/v1/studies/MINI/imports/{started['id']}"
    assert (started["state"], started["file"], started["dry_run"], started["counts"]) == (
        "running",
        "lab.csv",
        False,
        None,
    )
    job = poll(dm, response.headers["Location"])
    assert job["state"] == "done"
    assert job["counts"] == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "refused": 1,
        "queries": 0,
        "registered": 1,
        "written": True,
    }
    assert [(r["line"], r["item"], r["label"]) for r in job["refusals"]] == [(3, "/ALT", "ALT")]
    assert staff_sees(as_user, "01-001")


def staff_sees(as_user, subject: str) -> bool:
    return as_user("staff01").get(f"/studies/MINI/subjects/{subject}").status_code == 200


def test_a_dry_run_job_writes_nothing(as_user):
    dm = as_user("dm")
    response = upload(dm, dry_run="true")
    job = poll(dm, response.headers["Location"])
    assert (job["dry_run"], job["counts"]["created"], job["counts"]["written"]) == (True, 1, False)
    assert [row["outcome"] for row in job["rows"]] == ["created", "refused"]
    assert not staff_sees(as_user, "01-001")


def test_a_file_that_cannot_be_read_fails_the_job_naming_file_and_line(as_user):
    dm = as_user("dm")
    job = poll(dm, upload(dm, b"subject,visit,NOPE\n01-001,SCREEN,1\n").headers["Location"])
    assert (job["state"], job["counts"]) == ("failed", None)
    assert job["error"].startswith("lab.csv:1: column 'NOPE' matches no item of form LB")


def test_bad_options_are_422_naming_the_field_and_others_may_not_import(as_user):
    dm = as_user("dm")
    assert upload(dm, form="NOPE").get_json()["errors"] == [{"path": "/form", "message": "one of the study's forms"}]
    assert upload(dm, kind="xls").status_code == 422
    assert upload(dm, event="SCREEN").get_json()["errors"][0]["path"] == "/event"
    assert dm.post("/studies/MINI/imports", {"kind": "csv"}).status_code == 415
    assert upload(as_user("staff01")).status_code == 403
    assert dm.get("/studies/MINI/imports/000000000000000000000000").status_code == 404
