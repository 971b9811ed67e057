"""A signature manifest as the API shows it."""

from __future__ import annotations

import datetime as dt

from ecrf.signatures import Signature
from ecrf.sites import site_timezone
from ecrf.times import iso


def signature_json(signature: Signature) -> dict:
    """The manifest with its standing (computed now if not set) and its time also in the site's zone."""
    tz = site_timezone(signature.site)
    at = signature.at if signature.at.tzinfo else signature.at.replace(tzinfo=dt.UTC)
    standing = signature.standing or signature.current_standing()
    voided = standing.voided_by
    return {"id": signature.signature_id, "scope": signature.scope, "subject": signature.subject,
            "event": signature.event, "form": signature.form, "signer": signature.signer,
            "printed_name": signature.printed_name, "meaning": signature.meaning, "at": iso(signature.at),
            "at_site": at.astimezone(tz).isoformat(timespec="seconds"), "site_timezone": tz.key,
            "records": sorted(signature.heads), "digest": signature.digest,
            "valid": standing.valid, "voided_reason": standing.reason,
            "voided_by": None if voided is None else {**voided, "at": iso(voided.get("at"))},
            "override_reason": (signature.override or {}).get("reason")}

