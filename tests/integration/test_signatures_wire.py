"""Signatures against a real wire-protocol server: a sign racing a save leaves either a signature with its
audit event (voided, with the save named, if the save came after) or nothing at all."""

import threading

import pytest
from conftest import OVERRIDDEN, SIGNING, Api

pytestmark = pytest.mark.integration

RACES = 10


def race(wire_app, subject: str, sign_path: str, round_number: int) -> tuple[int, int]:
    """One sign and one save of the subject's VS started together; their status codes."""
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    stored = staff.get(staff.record_path(subject, "SCREEN", "VS")).get_json()
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def sign():
        inv = Api(wire_app.test_client(), wire_app.tokens["inv01"])
        barrier.wait()
        results["sign"] = inv.post(sign_path, SIGNING).status_code

    def save():
        api = Api(wire_app.test_client(), wire_app.tokens["staff01"])
        barrier.wait()
        results["save"] = api.save(subject, "SCREEN", "VS", {**stored["data"], "WEIGHT": 60 + round_number},
                                   version=stored["version"], reason=f"race {round_number}").status_code

    threads = [threading.Thread(target=sign), threading.Thread(target=save)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results["sign"], results["save"]


@pytest.mark.parametrize("scope", ["form", "visit"])
def test_a_sign_racing_a_save_leaves_a_signature_only_with_its_audit_event(wire_app, scope):
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70})
    staff.save(subject, "SCREEN", "DM", {"SEX": "M", "BRTHDTC": "1980-01-01"})
    sign_path = (staff.record_path(subject, "SCREEN", "VS") if scope == "form"
                 else f"/studies/MINI/subjects/{subject}/events/SCREEN") + "/sign"
    outcomes = [race(wire_app, subject, sign_path, n) for n in range(RACES)]
    assert all(sign in (201, 409) and save in (200, 409) for sign, save in outcomes), outcomes
    signed = sum(sign == 201 for sign, _ in outcomes)

    listed = staff.get(f"/studies/MINI/subjects/{subject}/signatures").get_json()
    with wire_app.app_context():
        from ecrf.db import database

        db = database()
        sign_events = {e["state"]["signature"]["id"]: e for e in db.audit_events.find(
            {"stream": {"$regex": f"^signature/MINI/{subject}/"}, "action": "sign"})}
        documents = {d["_id"] for d in db.signatures.find({"subject": subject})}
        # Every signature listed, stored or audited is one and the same set: one per sign answered 201.
        assert documents == set(sign_events) == {s["id"] for s in listed} and len(documents) == signed
        for signature in listed:
            if signature["valid"]:
                assert signature["voided_reason"] is None and signature["voided_by"] is None
                continue
            # A voided signature names the save that voided it, and that save is in the trail after the signed head.
            voided_by = signature["voided_by"]
            assert signature["voided_reason"].startswith("VS at SCREEN changed by staff01"), signature
            voiding = db.audit_events.find_one({"stream": voided_by["stream"], "seq": voided_by["seq"]})
            assert voiding["action"] == "update" and voiding["reason"].startswith("race ")
            covered = {c["stream"]: c["seq"] for c in sign_events[signature["id"]]["state"]["signature"]["covers"]}
            assert voiding["seq"] > covered[voided_by["stream"]]
        # A signature still holds only if it covers the last save of VS.
        last_save = db.audit_events.find_one({"stream": f"record/MINI/{subject}/SCREEN/VS", "action": "update"},
                                             sort=[("seq", -1)])
        for signature in listed:
            if signature["valid"]:
                covers = sign_events[signature["id"]]["state"]["signature"]["covers"]
                assert {c["stream"]: c["seq"] for c in covers}[last_save["stream"]] >= last_save["seq"]
    assert wire_app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0


def exported(wire_app):
    """The study's ODM from the API, parsed and checked against the ODM 1.3.2 XSD."""
    from lxml import etree

    response = wire_app.test_client().get("/api/v1/studies/MINI/export/odm",
                                          headers={"Authorization": f"Bearer {wire_app.tokens['dm']}"})
    assert response.status_code == 200 and b"ns0:" not in response.data
    document = etree.fromstring(response.data)
    with wire_app.app_context():
        from ecrf.exports.odm import odm_schema

        odm_schema().assertValid(document)
    return document


ODM = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


def value_history(document, subject: str) -> list[tuple]:
    """Each VS value with its AuditRecord's user, time, reason and source event."""
    return [(i.get("ItemOID"), i.get("Value"), *(i.findtext(f"odm:AuditRecord/odm:{tag}", None, ODM)
                                                 for tag in ("DateTimeStamp", "ReasonForChange", "SourceID")),
             i.find("odm:AuditRecord/odm:UserRef", ODM).get("UserOID"))
            for i in document.xpath(f"//odm:SubjectData[@SubjectKey='{subject}']//odm:FormData[@FormOID='F.VS']"
                                    "[@TransactionType='Upsert']//odm:ItemData", namespaces=ODM)]


def test_the_odm_from_the_wire_server_keeps_every_value_stamp_and_signature_through_review(wire_app):
    staff = Api(wire_app.test_client(), wire_app.tokens["staff01"])
    inv = Api(wire_app.test_client(), wire_app.tokens["inv01"])
    subject = staff.register()
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 70})
    staff.save(subject, "SCREEN", "VS", {"VSDTC": "2026-01-05", "HEIGHT": 170, "WEIGHT": 72}, version=1,
               reason="re-weighed")
    before = value_history(exported(wire_app), subject)
    assert ("IT.VS.DOUBLE_WEIGHT", "144", before[-1][2], "re-weighed",
            f"record/MINI/{subject}/SCREEN/VS#2:update", "USR.staff01") == before[-1]
    path = staff.record_path(subject, "SCREEN", "VS")
    assert Api(wire_app.test_client(), wire_app.tokens["mon01"]).post(path + "/sdv", {}).status_code == 200
    assert inv.post(path + "/sign", {**SIGNING, "meaning": "Reviewed at the wire"}).status_code == 201
    assert inv.post(f"/studies/MINI/subjects/{subject}/events/SCREEN/sign", SIGNING).status_code == 201
    assert Api(wire_app.test_client(), wire_app.tokens["dm"]).post(path + "/lock", OVERRIDDEN).status_code == 200
    document = exported(wire_app)
    assert value_history(document, subject) == before
    steps = document.xpath(f"//odm:SubjectData[@SubjectKey='{subject}']//odm:FormData[@FormOID='F.VS']"
                           "[@TransactionType='Context']/odm:Annotation/odm:Flag/odm:FlagValue/text()", namespaces=ODM)
    assert steps == ["sdv", "lock", "valid", "form"]  # the review steps, then the form signature's flags
    meanings = {d.get("OID"): d.findtext("odm:Meaning", None, ODM) for d in document.iterfind(".//odm:SignatureDef",
                                                                                              ODM)}
    signed = [meanings[s.get("SignatureOID")] for s in document.iterfind(".//odm:Signature/odm:SignatureRef", ODM)]
    assert sorted(signed) == sorted(["Reviewed at the wire", meanings["SD.ATTEST"]])
    main = document.find(f".//odm:SubjectData[@SubjectKey='{subject}']", ODM)
    assert main.findtext("odm:AuditRecord/odm:SourceID", None, ODM) == f"subject/MINI/{subject}#1:subject_registered"
