"""AdminData: users, sites as Locations, and one SignatureDef per meaning ever signed in the study."""

from __future__ import annotations

from lxml import etree

from audit import AuditStore, utc_now
from ecrf.exports.odm.audit_records import SYSTEM_USER
from ecrf.exports.odm.elements import NSMAP, E, mdv_oid, oid_part
from ecrf.exports.odm.signatures import signature_def_oid
from ecrf.signatures import SIGNATURE_MEANING
from ecrf.sites import Site
from ecrf.studies import StudyRuntime
from ecrf.trail import audit_store
from ecrf.users import User


def admin_data(study: StudyRuntime, store: AuditStore | None = None) -> etree._Element:
    """Users, sites (Locations) and one SignatureDef per meaning ever signed in the study."""
    users = [E("User", {"OID": SYSTEM_USER, "UserType": "Other"}, E("LoginName", text="system"),
               E("FullName", text="eCRF engine (automatic derivations, checks and query closing)"))]
    for user in User.objects.order_by("username"):
        users.append(E("User", {"OID": f"USR.{oid_part(user.username)}"}, E("LoginName", text=user.username),
                       E("DisplayName", text=user.display_name), E("FullName", text=user.display_name),
                       *[E("LocationRef", {"LocationOID": f"LOC.{oid_part(s)}"}) for s in user.sites]))
    locations = [E("Location", {"OID": f"LOC.{oid_part(site.code)}", "Name": site.name, "LocationType": "Site"},
                   E("MetaDataVersionRef", {"StudyOID": study.oid, "MetaDataVersionOID": mdv_oid(study),
                                            "EffectiveDate": (site.created_at or utc_now()).date().isoformat()}))
                 for site in Site.objects.order_by("code")]
    # The meanings come from the sign events themselves: a signature is exported with the meaning it was signed with.
    signed = (store or audit_store()).collection.distinct(
        "state.signature.meaning", {"context.study": study.oid, "action": "sign"})
    meanings = [SIGNATURE_MEANING, *sorted(m for m in set(signed) if isinstance(m, str) and m != SIGNATURE_MEANING)]
    signatures = [E("SignatureDef", {"OID": signature_def_oid(meaning), "Methodology": "Electronic"},
                    E("Meaning", text=meaning),
                    E("LegalReason", text="21 CFR Part 11 electronic signature, password re-entered at signing"))
                  for meaning in meanings]
    return E("AdminData", {"StudyOID": study.oid}, *users, *locations, *signatures, nsmap=NSMAP)


