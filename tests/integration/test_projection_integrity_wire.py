"""Every projection collection against its stream on a real wire-protocol server: its sort order, types and times."""

import pytest
from tampering import TAMPERINGS, realistic_history, verify

pytestmark = pytest.mark.integration

# A few of the tamperings, one per collection kind that sorts or stores differently on a real server.
ON_THE_WIRE = ("subject moved to another site", "whole subject stream deleted, its document kept",
               "query close event deleted", "user given another site",
               "user's last login event deleted", "revoked API token made live again",
               "signature without its audit event", "signature time edited",
               "signature covers and digest edited together", "signature digest edited", "record updated_by edited",
               "lab range limits edited",
               "container lock removed", "study definition edited in studies")


@pytest.fixture
def history(wire_app):
    return wire_app, realistic_history(wire_app)


def test_a_realistic_history_verifies_clean_on_the_wire(history):
    app, _ = history
    assert verify(app) == []


def test_verify_names_every_direct_edit_on_the_wire(history):
    app, ids = history
    chosen = [t for t in TAMPERINGS if t.name in ON_THE_WIRE]
    assert len(chosen) == len(ON_THE_WIRE)
    with app.app_context():
        from ecrf.db import database

        for tampering in chosen:
            tampering.edit(database(), ids)
    problems = [str(p) for p in verify(app)]
    for tampering in chosen:
        assert any(p.startswith(f"{tampering.stream(ids)}: {tampering.says(ids)}") for p in problems), tampering.name
    assert {p.split(": ")[0] for p in problems} == {t.stream(ids) for t in chosen}


def test_a_deleted_signatures_document_is_named_repairable_and_read_back_on_the_wire(history):
    app, ids = history
    stream = f"signature/MINI/{ids['s1']}/{ids['casebook_signature']}"
    with app.app_context():
        from ecrf.db import database
        from ecrf.signatures import subject_signatures

        stored = database().signatures.find_one({"_id": ids["casebook_signature"]})
        database().signatures.delete_one({"_id": stored["_id"]})
        assert [str(p) for p in verify(app)] == [f"{stream}: stream has no projection in signatures (repairable: "
                                                 "brought back from the stream when the signatures are read)"]
        subject_signatures("MINI", ids["s1"])
        assert database().signatures.find_one({"_id": stored["_id"]}) == stored
    assert verify(app) == []
