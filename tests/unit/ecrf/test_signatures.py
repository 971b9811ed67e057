"""Signatures: bound to a digest of exactly what they cover, voided only by what changes it,
each its own audit event."""

import datetime as dt

import pytest
from conftest import OVERRIDDEN, PASSWORD, SIGNING, login, record


def test_investigator_signs_a_visit_and_a_whole_casebook(as_user, staff, saved):
    inv = as_user("inv01")
    visit = inv.post(f"/studies/MINI/subjects/{saved}/events/SCREEN/sign", SIGNING)
    assert visit.status_code == 201 and visit.get_json()["scope"] == "event"
    assert len(visit.get_json()["records"]) == 2
    assert record(staff, saved, "DM")["lifecycle"] == "signed"
    book = inv.post(f"/studies/MINI/subjects/{saved}/sign", {**SIGNING, "meaning": "Casebook reviewed"})
    assert book.get_json()["scope"] == "subject" and book.get_json()["meaning"] == "Casebook reviewed"


def signatures(api, subject) -> dict:
    """The subject's signatures by scope name ("VS", "SCREEN", "casebook"): valid flag and void reason."""
    found = api.get(f"/studies/MINI/subjects/{subject}/signatures").get_json()
    return {s["form"] or s["event"] or "casebook": (s["valid"], s["voided_reason"]) for s in found}


def valid(api, subject) -> dict:
    return {scope: ok for scope, (ok, _) in signatures(api, subject).items()}


@pytest.fixture
def signed_three_ways(as_user, staff, saved):
    """VS signed, then the SCREEN visit, then the casebook; a D28 form signed on its own as a bystander."""
    staff.save(saved, "D28", "LB", {"LBDTC": "2026-02-01", "ALT": 20})
    inv = as_user("inv01")
    for path in (
        staff.record_path(saved, "SCREEN", "VS"),
        staff.record_path(saved, "D28", "LB"),
        f"/studies/MINI/subjects/{saved}/events/SCREEN",
        f"/studies/MINI/subjects/{saved}",
    ):
        assert inv.post(path + "/sign", SIGNING).status_code == 201, path
    return saved


def test_signing_at_one_scope_never_voids_another(as_user, staff, signed_three_ways):
    assert valid(staff, signed_three_ways) == {"VS": True, "LB": True, "SCREEN": True, "casebook": True}


def test_signature_manifests_carry_exactly_the_fields_the_api_description_lists(as_user, staff, signed_three_ways):
    spec = staff.get("/openapi.json").get_json()
    fields = set(spec["components"]["schemas"]["Signature"]["properties"])
    voiding = set(spec["components"]["schemas"]["VoidingEvent"]["properties"])
    before = record(staff, signed_three_ways)
    staff.save(
        signed_three_ways, "SCREEN", "VS", {**before["data"], "WEIGHT": 66}, version=before["version"], reason="x"
    )
    listed = staff.get(f"/studies/MINI/subjects/{signed_three_ways}/signatures").get_json()
    assert all(set(s) == fields for s in listed)
    assert [set(s["voided_by"]) for s in listed if s["voided_by"]] == [voiding] * 3


# Which signatures an action voids: the ones covering the changed record, and only those.
SCOPE_TABLE = {
    "change VS": ("SCREEN", "VS", {"VS": False, "LB": True, "SCREEN": False, "casebook": False}),
    "change DM": ("SCREEN", "DM", {"VS": True, "LB": True, "SCREEN": False, "casebook": False}),
    "change LB at D28": ("D28", "LB", {"VS": True, "LB": False, "SCREEN": True, "casebook": False}),
}


@pytest.mark.parametrize("change", SCOPE_TABLE)
def test_a_data_change_voids_exactly_the_signatures_that_cover_it(as_user, staff, signed_three_ways, change):
    event, form, expected = SCOPE_TABLE[change]
    subject = signed_three_ways
    before = record(staff, subject, form, event)
    new = {**before["data"], **({"ALT": 99} if form == "LB" else {"WEIGHT": 71} if form == "VS" else {"SEX": "F"})}
    assert staff.save(subject, event, form, new, version=before["version"], reason="transcription").status_code == 200
    found = signatures(staff, subject)
    assert {scope: ok for scope, (ok, _) in found.items()} == expected
    for ok, why in found.values():
        if ok:
            assert why is None
        else:
            assert why.startswith(f"{form} at {event} changed by staff01") and why.endswith(": transcription")


def test_verification_locking_and_freezing_never_void_a_signature(as_user, staff, signed_three_ways):
    path = staff.record_path(signed_three_ways, "SCREEN", "VS")
    assert as_user("mon01").post(path + "/sdv", {}).status_code == 200
    for action in ("freeze", "unfreeze", "lock"):
        assert as_user("dm").post(path + f"/{action}", {}).status_code == 200, action
    assert valid(staff, signed_three_ways) == {"VS": True, "LB": True, "SCREEN": True, "casebook": True}


def test_an_unlock_clears_the_signatures_over_the_record_and_says_so(as_user, staff, signed_three_ways):
    path = staff.record_path(signed_three_ways, "SCREEN", "DM")
    dm = as_user("dm")
    dm.post(path + "/lock", OVERRIDDEN)
    assert dm.post(path + "/unlock", {"reason": "query on birth date"}).status_code == 200
    found = signatures(staff, signed_three_ways)
    assert {scope: ok for scope, (ok, _) in found.items()} == {
        "VS": True,
        "LB": True,
        "SCREEN": False,
        "casebook": False,
    }
    assert found["SCREEN"][1].startswith("DM at SCREEN unlocked") and found["SCREEN"][1].endswith(
        ": query on birth date"
    )


def test_re_signing_a_changed_form_leaves_the_visit_signature_as_it_was(as_user, staff, signed_three_ways):
    subject = signed_three_ways
    before = record(staff, subject, "VS")
    staff.save(
        subject, "SCREEN", "VS", {**before["data"], "WEIGHT": 72}, version=before["version"], reason="re-weighed"
    )
    voided = signatures(staff, subject)["SCREEN"]
    assert (
        as_user("inv01").post(staff.record_path(subject, "SCREEN", "VS") + "/sign", SIGNING).status_code
        == 201
    )
    found = staff.get(f"/studies/MINI/subjects/{subject}/signatures").get_json()
    assert [s["valid"] for s in found if s["form"] == "VS"] == [False, True]
    assert signatures(staff, subject)["SCREEN"] == voided and voided[0] is False


def test_a_form_added_to_a_signed_visit_voids_the_visit_and_casebook_signatures(as_user, staff, signed_three_ways):
    assert staff.save(signed_three_ways, "SCREEN", "LB", {"LBDTC": "2026-01-06", "ALT": 30}).status_code == 201
    found = signatures(staff, signed_three_ways)
    assert {scope: ok for scope, (ok, _) in found.items()} == {
        "VS": True,
        "LB": True,
        "SCREEN": False,
        "casebook": False,
    }
    assert found["SCREEN"][1].startswith("LB at SCREEN added after signing by staff01")


def test_a_signature_binds_to_a_digest_of_exactly_the_heads_it_covers(as_user, staff, signed_three_ways):
    found = {
        s["form"] or s["event"] or "casebook": s
        for s in staff.get(f"/studies/MINI/subjects/{signed_three_ways}/signatures").get_json()
    }
    streams = {scope: s["records"] for scope, s in found.items()}
    prefix = f"record/MINI/{signed_three_ways}"
    assert streams == {
        "VS": [f"{prefix}/SCREEN/VS"],
        "LB": [f"{prefix}/D28/LB"],
        "SCREEN": [f"{prefix}/SCREEN/DM", f"{prefix}/SCREEN/VS"],
        "casebook": [f"{prefix}/D28/LB", f"{prefix}/SCREEN/DM", f"{prefix}/SCREEN/VS"],
    }
    assert len({s["digest"] for s in found.values()}) == 4


def test_every_signature_is_its_own_audit_event_and_its_document_is_brought_back_from_it(
    app, as_user, staff, signed_three_ways
):
    with app.app_context():
        from ecrf.db import database

        db = database()
        events = list(db.audit_events.find({"stream": {"$regex": "^signature/"}, "action": "sign"}))
        assert sorted(e["state"]["signature"]["id"] for e in events) == sorted(d["_id"] for d in db.signatures.find())
        db.signatures.delete_one({"_id": events[0]["state"]["signature"]["id"]})
    assert valid(staff, signed_three_ways) == {"VS": True, "LB": True, "SCREEN": True, "casebook": True}
    with app.app_context():
        assert database().signatures.count_documents({}) == 4


def test_the_api_subject_page_record_page_and_casebook_say_the_same_of_each_signature(
    app, as_user, staff, signed_three_ways
):
    import html
    import io

    from pypdf import PdfReader

    subject = signed_three_ways
    before = record(staff, subject)
    staff.save(
        subject, "SCREEN", "VS", {**before["data"], "WEIGHT": 71}, version=before["version"], reason="scale error"
    )
    listed = staff.get(f"/studies/MINI/subjects/{subject}/signatures").get_json()
    assert sorted(s["valid"] for s in listed) == [False, False, False, True]
    client = app.test_client()
    login(client, "inv01")
    page = html.unescape(client.get(f"/studies/MINI/subjects/{subject}").get_data(as_text=True))
    form_page = html.unescape(
        client.get(f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/VS").get_data(as_text=True)
    )
    pdf = client.get(
        f"/api/v1/studies/MINI/subjects/{subject}/casebook.pdf",
        headers={"Authorization": f"Bearer {app.tokens['inv01']}"},
    )
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages).split())
    for signature in listed:
        said = "yes" if signature["valid"] else "no"
        assert f'data-signature="{signature["id"]}" data-valid="{said}"' in page
        covers_vs = f"record/MINI/{subject}/SCREEN/VS" in signature["records"]
        assert (f'data-signature="{signature["id"]}" data-valid="{said}"' in form_page) == covers_vs
        if not signature["valid"]:
            reason = signature["voided_reason"]
            assert f"no — voided: {reason}" in page and f"no — voided: {reason}" in form_page
            assert f"still valid: no — voided: {reason}" in text
    # Under each form, one line per signature covering it.
    assert text.count("still valid: yes") == sum(len(s["records"]) for s in listed if s["valid"])


def test_signatures_from_before_signature_streams_are_judged_by_their_record_stamps_or_said_to_be_unrecorded(
    app, as_user, staff, saved
):
    """A database from before: a signature document with a ``sign`` stamp on its record, and one whose sign failed
    after the document was written (no audit event at all): the first holds, the second says why it does not."""
    import datetime as dt

    from ecrf.lifecycle import _append
    from ecrf.records.document import current
    from ecrf.signatures import Signature
    from ecrf.trail import record_stream

    stream = record_stream("MINI", saved, "SCREEN", "VS")
    with app.app_context():
        stored = current(stream)
        for signature_id in ("legacy-stamped", "legacy-orphan"):
            Signature(
                signature_id=signature_id,
                study="MINI",
                subject=saved,
                site="01",
                scope="record",
                event="SCREEN",
                form="VS",
                signer="inv01",
                printed_name="Inv01",
                meaning="old meaning",
                at=dt.datetime(2026, 1, 1),
                heads={stream: stored["head"]},
            ).save(force_insert=True)
        _append(
            stored,
            "inv01",
            "sign",
            {
                "signature": {
                    "id": "legacy-stamped",
                    "by": "inv01",
                    "name": "Inv01",
                    "at": dt.datetime(2026, 1, 1),
                    "meaning": "old meaning",
                    "signed_head": stored["head"],
                }
            },
        )
    found = {s["id"]: s for s in staff.get(f"/studies/MINI/subjects/{saved}/signatures").get_json()}
    assert found["legacy-stamped"]["valid"] is True and found["legacy-stamped"]["meaning"] == "old meaning"
    assert found["legacy-orphan"]["valid"] is False
    assert found["legacy-orphan"]["voided_reason"].startswith("no audit event records this signature")
    before = record(staff, saved)
    staff.save(saved, "SCREEN", "VS", {**before["data"], "WEIGHT": 90}, version=before["version"], reason="fix")
    found = {s["id"]: s for s in staff.get(f"/studies/MINI/subjects/{saved}/signatures").get_json()}
    assert found["legacy-stamped"]["valid"] is False and found["legacy-stamped"]["voided_reason"].endswith(": fix")


def test_a_database_error_while_signing_leaves_no_signature_behind(app, as_user, staff, saved, monkeypatch):
    from pymongo.errors import AutoReconnect

    from audit import AuditStore

    original = AuditStore.append

    def failing(self, stream, *args, **kwargs):
        if stream.startswith("signature/"):
            raise AutoReconnect("connection lost")
        return original(self, stream, *args, **kwargs)

    monkeypatch.setattr(AuditStore, "append", failing)
    before = record(staff, saved)
    response = as_user("inv01").post(f"/studies/MINI/subjects/{saved}/events/SCREEN/sign", SIGNING)
    assert response.status_code == 503
    monkeypatch.setattr(AuditStore, "append", original)
    assert staff.get(f"/studies/MINI/subjects/{saved}/signatures").get_json() == []
    assert record(staff, saved) == before
    with app.app_context():
        from ecrf.db import database

        assert database().signatures.count_documents({}) == 0
        assert database().audit_events.count_documents({"action": "sign"}) == 0


def trail_event(stream: str, seq: int, action: str, **extra) -> dict:
    event, form = stream.split("/")[-2:]
    return {
        "stream": stream,
        "seq": seq,
        "action": action,
        "actor": "someone",
        "reason": extra.pop("reason", None),
        "at": dt.datetime(2026, 1, 1, 0, 0, seq),
        "context": {"event": event, "form": form},
        **extra,
    }


VS, DM, LB = "record/S/1/SCREEN/VS", "record/S/1/SCREEN/DM", "record/S/1/D28/LB"
SIGNED_TRAIL = [
    trail_event(VS, 1, "create", changes=[{"path": "/W"}], state={"derived": {"BSA": 1.8}}),
    trail_event(DM, 1, "create", changes=[{"path": "/SEX"}], state={"derived": {}}),
]
# What happens after signing (both SCREEN records at seq 1) -> does a form (VS), visit or casebook signature hold?
STANDING_TABLE = {
    "nothing": ([], (True, True, True)),
    "sdv, sign, freeze, lock": (
        [trail_event(VS, n, a) for n, a in enumerate(("sdv", "sign", "freeze", "lock"), 2)],
        (True, True, True),
    ),
    "VS changed": (
        [trail_event(VS, 2, "update", changes=[{"path": "/W"}], state={"derived": {"BSA": 1.9}})],
        (False, False, False),
    ),
    "DM changed": (
        [trail_event(DM, 2, "update", changes=[{"path": "/SEX"}], state={"derived": {}})],
        (True, False, False),
    ),
    "VS re-checked, derived unchanged": (
        [trail_event(VS, 2, "recheck", state={"derived": {"BSA": 1.8}})],
        (True, True, True),
    ),
    "VS re-checked, derived changed": (
        [trail_event(VS, 2, "recheck", state={"derived": {"BSA": 2.0}})],
        (False, False, False),
    ),
    "VS unlocked": (
        [trail_event(VS, 2, "lock"), trail_event(VS, 3, "unlock", reason="correction")],
        (False, False, False),
    ),
    "a form added to the visit": (
        [trail_event("record/S/1/SCREEN/LB", 1, "create", changes=[{"path": "/ALT"}])],
        (True, False, False),
    ),
    "a form added to another visit": ([trail_event(LB, 1, "create", changes=[{"path": "/ALT"}])], (True, True, False)),
}


@pytest.mark.parametrize("after", STANDING_TABLE)
def test_standing_of_each_scope_after_each_kind_of_event(after):
    from ecrf.signatures import Signature, standing

    events, expected = STANDING_TABLE[after]
    trail = sorted(SIGNED_TRAIL + events, key=lambda e: (e["stream"], e["seq"]))
    covers = {"record": [VS], "event": [DM, VS], "subject": [DM, VS]}
    found = []
    for scope, event in (("record", "SCREEN"), ("event", "SCREEN"), ("subject", None)):
        signature = Signature(
            signature_id=scope,
            scope=scope,
            event=event,
            stream=f"signature/S/1/{scope}",
            covers=[{"stream": s, "seq": 1, "hash": "h"} for s in covers[scope]],
        )
        found.append(standing(signature, trail))
    assert tuple(f.valid for f in found) == expected
    assert all((f.reason is None) == f.valid for f in found)


def test_a_wrong_signing_password_signs_nothing_and_counts_toward_lockout(as_user, staff, saved):
    inv = as_user("inv01")
    path = staff.record_path(saved, "SCREEN", "VS")
    for _ in range(4):
        assert inv.post(path + "/sign", {"password": "wrong one", **OVERRIDDEN}).status_code == 401
    assert record(staff, saved)["signature"] is None
    assert inv.get(f"/studies/MINI/subjects/{saved}/signatures").get_json() == []
    inv.post(path + "/sign", {"password": "wrong one", **OVERRIDDEN})
    locked_out = inv.post(path + "/sign", SIGNING)
    assert locked_out.status_code == 401 and "locked" in locked_out.get_json()["detail"]


def test_a_save_landing_while_the_password_is_checked_refuses_the_sign_and_leaves_nothing(app, staff, saved):
    from ecrf.db import database
    from ecrf.errors import Conflict
    from ecrf.signatures import sign
    from ecrf.studies import study_runtime
    from ecrf.users import User

    def save_meanwhile(user, password):
        current = record(staff, saved)
        assert (
            staff.save(
                saved,
                "SCREEN",
                "VS",
                {**current["data"], "WEIGHT": 75},
                version=current["version"],
                reason="late correction",
            ).status_code
            == 200
        )

    with app.app_context():
        with pytest.raises(Conflict):
            sign(
                study_runtime("MINI"),
                User.objects(username="inv01").get(),
                PASSWORD,
                subject_id=saved,
                event="SCREEN",
                check_password=save_meanwhile,
            )
        assert database().signatures.count_documents({}) == 0
        assert database().audit_events.count_documents({"action": "sign"}) == 0
    assert record(staff, saved)["signature"] is None
