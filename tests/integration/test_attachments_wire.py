"""Source documents on the real wire server: GridFS round trip, hashes in the trail, limits, removal, scope."""

import hashlib
import io

import pytest
from conftest import OVERRIDDEN, Api, make_app
from documents import image_bytes, pdf_bytes, zip_bytes

from ecrf.attachments import BUCKET, Attachment, catch_up
from ecrf.db import database
from ecrf.integrity import verify_all
from ecrf.trail import audit_store

pytestmark = pytest.mark.integration

RECORD = "/studies/MINI/subjects/{subject}/events/SCREEN/forms/LB/attachments"


def upload(api: Api, subject: str, data: bytes, name: str, item: str | None = None):
    form = {"file": (io.BytesIO(data), name)} | ({"item": item} if item else {})
    return api.client.post(f"/api/v1{RECORD.format(subject=subject)}", data=form, headers=api.headers(),
                           content_type="multipart/form-data")


@pytest.fixture
def small_limit_app(tmp_path, wire_uri):
    app = make_app(tmp_path, wire_uri)
    app.config["ECRF"].attachment_max_bytes = 200_000
    return app


@pytest.fixture
def people(small_limit_app):
    client = small_limit_app.test_client()
    return lambda name: Api(client, small_limit_app.tokens[name])


def test_an_attached_pdf_comes_back_byte_for_byte_with_its_hash_in_the_audit_event(people, small_limit_app):
    staff, monitor = people("staff01"), people("mon01")
    subject = staff.register()
    data = pdf_bytes("ALT 88 U/L, signed J. Li")
    response = upload(staff, subject, data, "lab report — 骨髓.pdf", item="/ALT")
    assert response.status_code == 201, response.get_json()
    told = response.get_json()
    assert told["sha256"] == hashlib.sha256(data).hexdigest() and told["size"] == len(data)
    assert told["media_type"] == "application/pdf" and told["item"] == "/ALT"

    listed = monitor.get(RECORD.format(subject=subject)).get_json()
    assert [a["id"] for a in listed] == [told["id"]]
    download = monitor.get(f"/studies/MINI/subjects/{subject}/attachments/{told['id']}")
    assert download.status_code == 200 and download.data == data
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''lab%20report" in download.headers["Content-Disposition"]
    assert "no-store" in download.headers["Cache-Control"]

    with small_limit_app.app_context():
        [event] = audit_store().events(f"attachment/{told['id']}")
        added = {c["path"]: c["new"] for c in event["changes"]}
        assert added["/sha256"] == told["sha256"] and event["actor"] == "staff01"
        assert event["context"]["subject"] == subject and event["action"] == "attachment_added"
        assert database()[f"{BUCKET}.files"].count_documents({}) == 1
        assert verify_all() == []


@pytest.mark.parametrize("data, name, status, field", [
    (b"", "empty.pdf", 422, "/file"),
    (b"<html><script>alert(document.cookie)</script>", "report.pdf", 422, "/file"),
    ("png+zip", "gifar.png", 422, "/file"),
    ("pdf-as-png", "scan.png", 422, "/file"),
    ("big", "huge.png", 413, None),
])
def test_refused_files_leave_nothing_stored(people, small_limit_app, data, name, status, field):
    staff = people("staff01")
    subject = staff.register()
    data = {"png+zip": image_bytes("PNG") + zip_bytes(), "pdf-as-png": pdf_bytes(),
            "big": image_bytes("PNG", (600, 600)) + b"\0" * 250_000}.get(data, data)
    response = upload(staff, subject, data, name)
    assert response.status_code == status, response.get_json()
    if field:
        assert [e["path"] for e in response.get_json()["errors"]] == [field]
    with small_limit_app.app_context():
        assert database()[f"{BUCKET}.files"].count_documents({}) == 0
        assert Attachment.objects.count() == 0
        assert audit_store().streams("attachment/") == []


def test_a_body_beyond_the_upload_limit_is_refused_before_it_is_read(people, small_limit_app):
    staff = people("staff01")
    subject = staff.register()
    response = upload(staff, subject, b"\0" * 400_000, "huge.pdf")
    assert response.status_code == 413


def test_removal_is_audited_with_its_reason_and_the_file_stays_retrievable(people, small_limit_app):
    staff, monitor = people("staff01"), people("mon01")
    subject = staff.register()
    data = image_bytes("JPEG")
    told = upload(staff, subject, data, "ecg.jpg").get_json()
    path = f"/studies/MINI/subjects/{subject}/attachments/{told['id']}"
    assert staff.post(path + "/remove", {}).status_code == 422  # a reason is required
    removed = staff.post(path + "/remove", {"reason": "wrong subject's ECG"})
    assert removed.status_code == 200 and removed.get_json()["removed"] is True
    assert staff.post(path + "/remove", {"reason": "again"}).status_code == 409
    listed = monitor.get(RECORD.format(subject=subject)).get_json()
    assert listed[0]["removed"] and listed[0]["removal_reason"] == "wrong subject's ECG"
    assert monitor.get(path).data == data  # still reachable from the trail
    with small_limit_app.app_context():
        events = audit_store().events(f"attachment/{told['id']}")
        assert [e["action"] for e in events] == ["attachment_added", "attachment_removed"]
        assert events[1]["reason"] == "wrong subject's ECG" and events[1]["actor"] == "staff01"
        assert verify_all() == []


def test_other_sites_and_roles_cannot_reach_a_file(people):
    staff, other_staff, other_monitor, admin, monitor = (
        people("staff01"), people("staff02"), people("mon02"), people("root"), people("mon01"))
    subject = staff.register()
    told = upload(staff, subject, pdf_bytes(), "a.pdf").get_json()
    path = f"/studies/MINI/subjects/{subject}/attachments/{told['id']}"
    for outsider in (other_staff, other_monitor):
        assert outsider.get(path).status_code == 404
        assert outsider.get(RECORD.format(subject=subject)).status_code == 404
    assert admin.get(path).status_code == 403  # an administrator never sees clinical data
    assert upload(monitor, subject, pdf_bytes(), "b.pdf").status_code == 403  # monitors view, they do not attach
    assert upload(other_staff, subject, pdf_bytes(), "b.pdf").status_code == 404


def test_a_locked_record_takes_no_new_file(people):
    staff, dm = people("staff01"), people("dm")
    subject = staff.register()
    staff.save(subject, "SCREEN", "LB", {"LBDTC": "2026-01-05"})
    locked = dm.post(f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/LB/lock", OVERRIDDEN)
    assert locked.status_code == 200, locked.get_json()
    assert upload(staff, subject, pdf_bytes(), "late.pdf").status_code == 423


def test_a_file_altered_in_gridfs_is_named_by_verify_and_never_downloaded(people, small_limit_app):
    staff = people("staff01")
    subject = staff.register()
    told = upload(staff, subject, pdf_bytes(), "a.pdf").get_json()
    with small_limit_app.app_context():
        chunks = database()[f"{BUCKET}.chunks"]
        chunk = chunks.find_one({})
        altered = bytearray(chunk["data"])
        altered[200] ^= 0x01  # one bit of the stored file, by someone with database access
        chunks.update_one({"_id": chunk["_id"]}, {"$set": {"data": bytes(altered)}})
        problems = [p.message for p in verify_all()]
        assert problems == ["the attached file's SHA-256 differs from its audit event"], problems
    response = staff.get(f"/studies/MINI/subjects/{subject}/attachments/{told['id']}")
    assert response.status_code == 409 and b"%PDF" not in response.data


def test_a_projection_lost_after_its_event_is_restored_on_catch_up(people, small_limit_app):
    staff = people("staff01")
    subject = staff.register()
    told = upload(staff, subject, pdf_bytes(), "a.pdf").get_json()
    with small_limit_app.app_context():
        Attachment.objects(attachment_id=told["id"]).delete()  # as if the process died before projecting
        assert [p.message for p in verify_all()] == ["stream has no projection in attachments"]
        assert catch_up() == [f"attachment/{told['id']}"]
        assert verify_all() == []
