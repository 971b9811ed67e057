"""AuditRecords: the event that made a value or a step, as ODM says who, where, when and why."""

from __future__ import annotations

import copy
from collections.abc import Callable

from lxml import etree

from ecrf.exports.odm.elements import E, iso, oid_part

SYSTEM_USER = "USR.system"


def user_oid(actor: str | None) -> str:
    """The User OID of an actor; the engine's own steps are ``USR.system``."""
    return SYSTEM_USER if actor in ("system", None) else f"USR.{oid_part(actor)}"


def audit_record(event: dict, site: str) -> etree._Element:
    """The AuditRecord of an audit event: user, site, time, reason and ``SourceID`` = ``stream#seq:action``."""
    return E("AuditRecord", None, E("UserRef", {"UserOID": user_oid(event["actor"])}),
             E("LocationRef", {"LocationOID": f"LOC.{oid_part(site)}"}), E("DateTimeStamp", text=iso(event["at"])),
             E("ReasonForChange", text=event["reason"]) if event.get("reason") else None,
             E("SourceID", text=f"{event['stream']}#{event['seq']}:{event['action']}"))


def audit_copies(event: dict, site: str) -> Callable[[], etree._Element]:
    """A maker of the event's AuditRecord: lxml copies a built element many times faster than E builds it."""
    prototype = audit_record(event, site)
    return lambda: copy.copy(prototype)
