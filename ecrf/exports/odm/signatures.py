"""Signatures in ODM: one SignatureDef per meaning signed, and each signature, valid or voided, with an
Annotation telling its scope, meaning, coverage and standing."""

from __future__ import annotations

import hashlib

from lxml import etree

from ecrf.exports.odm.audit_records import user_oid
from ecrf.exports.odm.elements import NSMAP, E, iso, oid_part
from ecrf.exports.odm.reviews import annotation
from ecrf.signatures import SCOPE_NAMES, SIGNATURE_MEANING, Signature

SIGNATURE_DEF = "SD.ATTEST"


def signature_def_oid(meaning: str) -> str:
    """The SignatureDef of a meaning: SD.ATTEST for the default one, one per other meaning signed."""
    if meaning == SIGNATURE_MEANING:
        return SIGNATURE_DEF
    return "SD." + hashlib.sha256(meaning.encode("utf-8")).hexdigest()[:16]


def signature_elements(sig: Signature) -> list[etree._Element]:
    """The Signature element and the Annotation that tells its scope, meaning, coverage and standing."""
    standing = sig.standing
    # A signature from before signature streams names only the streams it covered, not their positions.
    covers = ", ".join(f"{c['stream']}#{c['seq']}" for c in sig.covers) if sig.covers else ", ".join(sorted(sig.heads))
    comment = (f"{SCOPE_NAMES[sig.scope]} signature {sig.signature_id} by {sig.printed_name} ({sig.signer}); "
               f"meaning: “{sig.meaning}”; covers {covers}; digest {sig.digest or 'none'}; "
               + ("valid" if standing.valid else f"voided: {standing.reason}"))
    state = "valid" if standing.valid else "voided"
    return [E("Signature", {"ID": f"SIG.{oid_part(sig.signature_id)}"}, E("UserRef", {"UserOID": user_oid(sig.signer)}),
              E("LocationRef", {"LocationOID": f"LOC.{oid_part(sig.site)}"}),
              E("SignatureRef", {"SignatureOID": signature_def_oid(sig.meaning)}),
              E("DateTimeStamp", text=iso(sig.at))),
            annotation(1, comment, (state, "CL.SIGNATURE_STATE", "signature", "CL.ECRF_FLAG_TYPE"),
                        (SCOPE_NAMES[sig.scope], "CL.SIGNATURE_SCOPE", "signature_scope", "CL.ECRF_FLAG_TYPE"))]




def casebook_signatures(subject, documents) -> list[etree._Element]:
    """One Context ``SubjectData`` per casebook signature of the subject (ODM allows one Signature per element)."""
    elements = []
    for sig in documents.signatures:
        if sig.scope == "subject":
            signature, note = signature_elements(sig)
            elements.append(
                E(
                    "SubjectData",
                    {"SubjectKey": subject.subject_id, "TransactionType": "Context"},
                    signature,
                    E("SiteRef", {"LocationOID": f"LOC.{oid_part(subject.site)}"}),
                    note,
                    nsmap=NSMAP,
                )
            )
    return elements
