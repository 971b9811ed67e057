"""A realistic study history, and direct database edits of its projections and non-record streams.

``realistic_history(app)`` drives an app through the API and the services the
CLI calls: subjects at two sites, saves and corrections, a system query that
opens and closes itself, manual queries answered, closed and reopened, SDV, record and visit
signatures, record, subject and study locks and freezes, site reference
ranges added and retired, a site added, users disabled and enabled, logins,
a password change, tokens revoked. ``TAMPERINGS`` lists edits an attacker
with database access could make, each with the stream verify must name and
the problem it must report there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from bson import ObjectId
from conftest import OVERRIDDEN, PASSWORD, SIGNING, Api

from audit import canonical_json
from ecrf.integrity import verify_all
from ecrf.users import hash_password

NEW_PASSWORD = "another battery horse staple"


def verify(app) -> list:
    """What ``ecrf audit verify`` finds in the app's database."""
    with app.app_context():
        return verify_all()


def realistic_history(app) -> dict:
    """Fill the app's database; returns the ids the tamperings need."""
    client = app.test_client()
    names = ("staff01", "staff02", "inv01", "mon01", "dm")
    staff, staff2, inv, mon, dm = (Api(client, app.tokens[name]) for name in names)
    s1, s2, s3 = staff.register(), staff.register(), staff2.register("02")
    for subject in (s1, s2):
        assert staff.save(subject, "SCREEN", "VS", {"WEIGHT": 70}).status_code == 201
        assert staff.save(subject, "SCREEN", "VS", {"WEIGHT": 71}, version=1, reason="typo").status_code == 200
        assert staff.save(subject, "SCREEN", "DM", {"SEX": "M"}).status_code == 201
    assert staff.save(s1, "SCREEN", "LB", {"ALT": 200}).status_code == 201  # opens a system query
    assert staff.save(s1, "SCREEN", "LB", {"ALT": 30}, version=1, reason="unit error").status_code == 200
    assert staff2.save(s3, "SCREEN", "VS", {"WEIGHT": 60}).status_code == 201
    queries = "/studies/MINI/queries"
    closed = mon.post(queries, {"subject": s1, "event": "SCREEN", "form": "VS", "item": "/WEIGHT", "text": "check"})
    closed = closed.get_json()["id"]
    assert staff.post(f"{queries}/{closed}/replies", {"text": "source says 71"}).status_code == 200
    assert mon.post(f"{queries}/{closed}/close", {"text": "thanks"}).status_code == 200
    still_open = mon.post(queries, {"subject": s2, "event": "SCREEN", "form": "DM", "item": "/SEX", "text": "sure?"})
    still_open = still_open.get_json()["id"]
    reopened = mon.post(queries, {"subject": s1, "event": "SCREEN", "form": "LB", "item": "/ALT", "text": "unit?"})
    reopened = reopened.get_json()["id"]
    assert mon.post(f"{queries}/{reopened}/close", {}).status_code == 200
    assert mon.post(f"{queries}/{reopened}/reopen", {"text": "not answered"}).status_code == 200
    assert mon.post(staff.record_path(s2, "SCREEN", "VS") + "/sdv", {}).status_code == 200
    signed = inv.post(staff.record_path(s1, "SCREEN", "VS") + "/sign", {**SIGNING, "meaning": "I approve"})
    assert signed.status_code == 201, signed.get_json()
    visit = inv.post(f"/studies/MINI/subjects/{s2}/events/SCREEN/sign", SIGNING)
    assert visit.status_code == 201, visit.get_json()
    casebook = inv.post(f"/studies/MINI/subjects/{s1}/sign", {**SIGNING, "meaning": "Casebook reviewed"})
    assert casebook.status_code == 201, casebook.get_json()
    # A correction voids the record and casebook signatures of s1's VS; the investigator signs it again.
    version = staff.get(staff.record_path(s1, "SCREEN", "VS")).get_json()["version"]
    assert staff.save(s1, "SCREEN", "VS", {"WEIGHT": 72}, version=version, reason="re-weighed").status_code == 200
    resigned = inv.post(staff.record_path(s1, "SCREEN", "VS") + "/sign", SIGNING)
    assert resigned.status_code == 201, resigned.get_json()
    assert dm.post(staff.record_path(s1, "SCREEN", "DM") + "/lock", OVERRIDDEN).status_code == 200
    assert dm.post(staff.record_path(s1, "SCREEN", "LB") + "/lock", OVERRIDDEN).status_code == 200
    assert dm.post(staff.record_path(s1, "SCREEN", "LB") + "/unlock", {"reason": "late lab"}).status_code == 200
    assert dm.post(f"/studies/MINI/subjects/{s2}/lock", OVERRIDDEN).status_code == 200
    assert dm.post("/studies/MINI/freeze", OVERRIDDEN).status_code == 200
    assert dm.post("/studies/MINI/unfreeze", {}).status_code == 200
    # Site 02's ethics committee approved (version 1 again: an activation all the same, on the study's stream).
    assert dm.post("/studies/MINI/versions/1/activate", {"site": "02", "approved": "2026-01-02"}).status_code == 200
    with app.app_context():
        from ecrf.ranges import add_range, retire_range
        from ecrf.sites import add_site
        from ecrf.users import User, authenticate, change_password, revoke_tokens, set_active

        manager = User.objects(username="dm").first()
        kept = add_range(manager, "01", "ALT", "U/L", 5, 50, valid_from="2024-01-01")
        retired = add_range(manager, "01", "HGB", "g/L", 120, None, valid_from="2024-01-01", sex="F")
        retire_range(manager, retired.range_id)
        add_site("03", "Site three", "America/New_York", actor="root")
        authenticate("inv01", PASSWORD)
        try:
            authenticate("mon02", "not the password")
        except Exception:  # a wrong password is refused, and audited
            pass
        authenticate("mon02", PASSWORD)
        change_password(User.objects(username="staff02").first(), PASSWORD, NEW_PASSWORD)
        revoke_tokens("mon02", actor="root")
        set_active("staff02", False, actor="root")
        set_active("staff02", True, actor="root")
        set_active("mon02", False, actor="root")
    return {"s1": s1, "s2": s2, "s3": s3, "closed": closed, "open": still_open, "reopened": reopened,
            "record_signature": signed.get_json()["id"], "visit_signature": visit.get_json()["id"],
            "casebook_signature": casebook.get_json()["id"], "resigned": resigned.get_json()["id"],
            "range": kept.range_id}


@dataclass(frozen=True)
class Tampering:
    """One direct database edit, the stream verify must name and what it must say there."""

    name: str
    edit: Callable[[object, dict], None]
    stream: Callable[[dict], str]
    says: Callable[[dict], str]


def _last_event(db, stream: str) -> None:
    db.audit_events.delete_one({"stream": stream, "seq": db.audit_events.find_one(
        {"stream": stream}, sort=[("seq", -1)])["seq"]})


def _copy_signature(db, ids: dict) -> None:
    forged = db.signatures.find_one({"_id": ids["record_signature"]})
    db.signatures.insert_one({**forged, "_id": str(ObjectId()), "meaning": "forged"})
    ids["forged"] = db.signatures.find_one({"meaning": "forged"})["_id"]


def _signature(ids: dict, name: str = "record_signature", subject: str = "s1") -> str:
    return f"signature/MINI/{ids[subject]}/{ids[name]}"


def _insert_unstreamed_signature(db, ids: dict) -> None:
    """A signature document as if made before signature streams: no stream, and no record stamp names it."""
    forged = db.signatures.find_one({"_id": ids["visit_signature"]})
    del forged["stream"]
    ids["forged"] = str(ObjectId())
    db.signatures.insert_one({**forged, "_id": ids["forged"]})


def _edit_covers(db, ids: dict) -> None:
    """Narrow a casebook signature to its first record, with a digest that matches the narrowed covers."""
    document = db.signatures.find_one({"_id": ids["casebook_signature"]})
    covers = document["covers"][:1]
    db.signatures.update_one({"_id": document["_id"]}, {"$set": {
        "covers": covers, "heads": {c["stream"]: c["hash"] for c in covers},
        "digest": hashlib.sha256(canonical_json(covers)).hexdigest()}})


def _insert_token(db, ids: dict) -> None:
    db.api_tokens.insert_one({"_id": "f" * 64, "username": "staff01", "created_at": None})


def _edit_definition(db, ids: dict) -> None:
    study = db.studies.find_one({"oid": "MINI"})
    db.studies.update_one({"_id": study["_id"]},
                          {"$set": {"forms_json": study["forms_json"].replace("ALT_LIMIT", "ALT_LIMlT")}})
    ids["study_hash"] = study["_id"]


def _rename_study(db, ids: dict) -> None:
    ids["study_hash"] = db.studies.find_one({"oid": "MINI"})["_id"]
    db.studies.update_one({"_id": ids["study_hash"]}, {"$set": {"name": "Another study"}})


def _record(ids: dict, subject: str = "s1", form: str = "VS") -> str:
    return f"record/MINI/{ids[subject]}/SCREEN/{form}"


TAMPERINGS = [
    Tampering("subject moved to another site",
              lambda db, ids: db.subjects.update_one({"subject_id": ids["s1"]}, {"$set": {"site": "02"}}),
              lambda ids: f"subject/MINI/{ids['s1']}",
              lambda ids: "field 'site' is '02' in subjects, '01' in the stream"),
    Tampering("subject status edited",
              lambda db, ids: db.subjects.update_one({"subject_id": ids["s1"]}, {"$set": {"status": "enrolled"}}),
              lambda ids: f"subject/MINI/{ids['s1']}",
              lambda ids: "field 'status' is 'enrolled' in subjects, 'screening' in the stream"),
    Tampering("subject deleted from subjects",
              lambda db, ids: db.subjects.delete_one({"subject_id": ids["s3"]}),
              lambda ids: f"subject/MINI/{ids['s3']}", lambda ids: "stream has no projection in subjects"),
    Tampering("whole subject stream deleted, its document kept",
              lambda db, ids: db.audit_events.delete_many({"stream": f"subject/MINI/{ids['s3']}"}),
              lambda ids: f"subject/MINI/{ids['s3']}",
              lambda ids: "subjects document has no audit stream (events deleted)"),
    Tampering("query closed in queries",
              lambda db, ids: db.queries.update_one({"_id": ids["open"]}, {"$set": {"state": "closed"}}),
              lambda ids: f"query/{ids['open']}",
              lambda ids: "field 'state' is 'closed' in queries, 'open' in the stream"),
    Tampering("query close event deleted",
              lambda db, ids: _last_event(db, f"query/{ids['closed']}"),
              lambda ids: f"query/{ids['closed']}",
              lambda ids: "field 'state' is 'closed' in queries, 'answered' in the stream"),
    Tampering("query thread message edited",
              lambda db, ids: db.queries.update_one({"_id": ids["closed"]}, {"$set": {"messages.1.text": "no answer"}}),
              lambda ids: f"query/{ids['closed']}",
              lambda ids: "field 'messages/1/text' is 'no answer' in queries, 'source says 71' in the stream"),
    Tampering("reopened query given a closing time",
              lambda db, ids: db.queries.update_one({"_id": ids["reopened"]},
                                                    {"$set": {"closed_at": dt.datetime(2026, 1, 1)}}),
              lambda ids: f"query/{ids['reopened']}",
              lambda ids: "field 'closed_at' is 2026-01-01T00:00:00.000+00:00 in queries, absent in the stream"),
    Tampering("query deleted from queries",
              lambda db, ids: db.queries.delete_one({"_id": ids["open"]}),
              lambda ids: f"query/{ids['open']}", lambda ids: "stream has no projection in queries"),
    Tampering("user deleted from users",
              lambda db, ids: db.users.delete_one({"_id": "mon01"}),
              lambda ids: "user/mon01", lambda ids: "stream has no projection in users"),
    Tampering("user role changed",
              lambda db, ids: db.users.update_one({"_id": "staff02"}, {"$set": {"role": "data_manager"}}),
              lambda ids: "user/staff02",
              lambda ids: "field 'role' is 'data_manager' in users, 'site_staff' in the stream"),
    Tampering("user given another site",
              lambda db, ids: db.users.update_one({"_id": "staff01"}, {"$set": {"sites": ["01", "02"]}}),
              lambda ids: "user/staff01", lambda ids: "field 'sites' is ['01', '02'] in users, ['01'] in the stream"),
    Tampering("disabled user made active again",
              lambda db, ids: db.users.update_one({"_id": "mon02"}, {"$set": {"active": True}}),
              lambda ids: "user/mon02", lambda ids: "field 'active' is True in users, False in the stream"),
    Tampering("user's last login event deleted",
              lambda db, ids: _last_event(db, "user/inv01"),
              lambda ids: "user/inv01", lambda ids: "field 'last_login' is "),
    Tampering("user's password hash replaced",
              lambda db, ids: db.users.update_one({"_id": "staff01"},
                                                  {"$set": {"password_hash": hash_password("mallory")}}),
              lambda ids: "user/staff01", lambda ids: "field 'password_hash digest' is "),
    Tampering("user's printed name edited",
              lambda db, ids: db.users.update_one({"_id": "inv01"}, {"$set": {"full_name": "Dr Mallory"}}),
              lambda ids: "user/inv01",
              lambda ids: "field 'full_name' is 'Dr Mallory' in users, 'Inv01' in the stream"),
    Tampering("API token inserted",
              _insert_token, lambda ids: "user/staff01",
              lambda ids: "field 'tokens issued' is 2 in api_tokens, 1 in the stream"),
    Tampering("revoked API token made live again",
              lambda db, ids: db.api_tokens.update_many({"username": "mon02"}, {"$unset": {"revoked_at": ""}}),
              lambda ids: "user/mon02", lambda ids: "field 'live tokens' is 1 in api_tokens, 0 in the stream"),
    Tampering("signature meaning edited",
              lambda db, ids: db.signatures.update_one({"_id": ids["record_signature"]}, {"$set": {"meaning": "Seen"}}),
              _signature, lambda ids: "field 'meaning' is 'Seen' in signatures, 'I approve' in the stream"),
    Tampering("signature covers and digest edited together",
              _edit_covers, lambda ids: _signature(ids, "casebook_signature"),
              lambda ids: "field 'covers (entries)' is 1 in signatures, "),
    Tampering("signature digest edited",
              lambda db, ids: db.signatures.update_one({"_id": ids["resigned"]}, {"$set": {"digest": "0" * 64}}),
              lambda ids: _signature(ids, "resigned"), lambda ids: f"field 'digest' is '{'0' * 64}' in signatures, "),
    Tampering("signature time edited",
              lambda db, ids: db.signatures.update_one({"_id": ids["visit_signature"]},
                                                       {"$set": {"at": dt.datetime(2020, 1, 1)}}),
              lambda ids: _signature(ids, "visit_signature", "s2"),
              lambda ids: "field 'at' is 2020-01-01T00:00:00.000+00:00 in signatures, "),
    Tampering("signature without its audit event",
              _copy_signature, lambda ids: f"signature/MINI/{ids['s1']}/{ids['forged']}",
              lambda ids: "signature in signatures has no audit stream (events deleted)"),
    Tampering("signature stream's sign event deleted, its document kept",
              lambda db, ids: db.audit_events.delete_many({"stream": _signature(ids, "visit_signature", "s2")}),
              lambda ids: _signature(ids, "visit_signature", "s2"),
              lambda ids: "signature in signatures has no audit stream (events deleted)"),
    Tampering("signature without a stream inserted",
              _insert_unstreamed_signature, lambda ids: f"signature/{ids['forged']}",
              lambda ids: "signature in signatures has no sign event in any record stream"),
    Tampering("signature deleted from signatures",
              lambda db, ids: db.signatures.delete_one({"_id": ids["casebook_signature"]}),
              lambda ids: _signature(ids, "casebook_signature"),
              lambda ids: "stream has no projection in signatures (repairable: "),
    Tampering("record site edited",
              lambda db, ids: db.records.update_one({"_id": _record(ids)}, {"$set": {"site": "02"}}),
              _record, lambda ids: "field 'site' is '02' in records, '01' in the stream"),
    Tampering("record updated_by edited",
              lambda db, ids: db.records.update_one({"_id": _record(ids)}, {"$set": {"updated_by": "staff02"}}),
              _record, lambda ids: "field 'updated_by' is 'staff02' in records, 'dm' in the stream"),
    Tampering("lab range limits edited",
              lambda db, ids: db.lab_ranges.update_one({"_id": ids["range"]}, {"$set": {"high": 500.0}}),
              lambda ids: "ranges/01",
              lambda ids: f"range {ids['range']}: field 'high' is 500.0 in lab_ranges, 50.0 in the stream"),
    Tampering("lab range deleted",
              lambda db, ids: db.lab_ranges.delete_one({"_id": ids["range"]}),
              lambda ids: "ranges/01", lambda ids: f"range {ids['range']} is missing from lab_ranges"),
    Tampering("site time zone edited",
              lambda db, ids: db.sites.update_one({"_id": "02"}, {"$set": {"timezone": "UTC"}}),
              lambda ids: "site/02", lambda ids: "field 'timezone' is 'UTC' in sites, 'Europe/Berlin' in the stream"),
    Tampering("container lock removed",
              lambda db, ids: db.container_locks.delete_one({"_id": f"subject/MINI/{ids['s2']}"}),
              lambda ids: f"subject/MINI/{ids['s2']}",
              lambda ids: "stream holds a locked lock missing from container_locks"),
    Tampering("container lock forged",
              lambda db, ids: db.container_locks.insert_one({"_id": f"subject/MINI/{ids['s3']}", "kind": "frozen"}),
              lambda ids: f"subject/MINI/{ids['s3']}", lambda ids: "frozen lock in container_locks has no lock event"),
    Tampering("study renamed in studies",
              _rename_study, lambda ids: "study/MINI",
              lambda ids: f"version {ids['study_hash']}: field 'name' is 'Another study' in studies, "
                          "'Mini study for engine tests' in the stream"),
    Tampering("site's ethics approval date edited in site_versions",
              lambda db, ids: db.site_versions.update_one({"_id": "MINI/02"}, {"$set": {"approved": "2025-06-01"}}),
              lambda ids: "study/MINI",
              lambda ids: "site version MINI/02: field 'approved' is '2025-06-01' in site_versions, '2026-01-02' in "
                          "the stream"),
    Tampering("site moved to another version in site_versions",
              lambda db, ids: db.site_versions.update_one({"_id": "MINI/02"}, {"$set": {"definition_hash": "0" * 64}}),
              lambda ids: "study/MINI", lambda ids: "site version MINI/02: field 'definition_hash' is"),
    Tampering("site version forged in site_versions",
              lambda db, ids: db.site_versions.insert_one({"_id": "MINI/01", "study": "MINI", "site": "01",
                                                           "definition_hash": "0" * 64, "version": "9"}),
              lambda ids: "study/MINI",
              lambda ids: "site version MINI/01 in site_versions has no activation event"),
    Tampering("site version deleted from site_versions",
              lambda db, ids: db.site_versions.delete_one({"_id": "MINI/02"}),
              lambda ids: "study/MINI",
              lambda ids: "site version MINI/02 activated in the stream is missing from site_versions"),
    Tampering("study definition edited in studies",
              _edit_definition, lambda ids: "study/MINI",
              lambda ids: f"version {ids['study_hash']}: the stored definition does not hash to its id (altered)"),
]
