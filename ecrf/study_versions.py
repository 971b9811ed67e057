"""Study versions per site: which loaded version each site has activated, with its ethics approval date.

A new version of a study is loaded once and activated site by site, as each site's ethics committee
approves the amendment. New subjects at a site start on the site's active version; a subject's
casebook stays on the version it is pinned to until it is migrated (:mod:`ecrf.amendments`).
Every activation is an audit event on the study's stream.
"""

from __future__ import annotations

import datetime as dt
import json

from mongoengine import BooleanField, DateTimeField, Document, StringField

from audit import utc_now
from ecrf.errors import FieldError, Invalid, NotFound
from ecrf.sites import Site, get_site
from ecrf.studies import Study, StudyRuntime, runtime_by_hash, study_runtime
from ecrf.study_folder import StudyDefinition
from ecrf.trail import record_admin_event


class SiteVersion(Document):
    """The version of a study a site works on (the projection of the study stream's activation events)."""

    key = StringField(primary_key=True)  # "<study>/<site>"
    study = StringField(required=True)
    site = StringField(required=True)
    definition_hash = StringField(required=True)
    version = StringField()
    approved = StringField()  # ethics approval date, YYYY-MM-DD; None when carried over at an amendment's load
    carried = BooleanField(default=False)  # kept on its version when a newer one was loaded, not activated
    activated_at = DateTimeField()
    activated_by = StringField()
    meta = {"collection": "site_versions", "indexes": ["study"]}


def find_version(study_oid: str, version: str, pointer: str = "/version") -> Study:
    """The loaded study version (the latest loaded, if one version string was loaded twice).

    :raise 404: when that version of the study is not loaded, naming ``pointer`` (the field that named it).
    """
    found = Study.objects(oid=study_oid, version=version).order_by("-loaded_at").first() \
        if isinstance(version, str) else None
    if found is None:
        raise NotFound(f"study {study_oid} has no loaded version {version!r}",
                       [FieldError(pointer, f"version {version!r} is not loaded")])
    return found


def loaded_definition(study_oid: str, version: str) -> StudyDefinition:
    """A loaded version as the study definition it was loaded from (to compare it, :mod:`ecrf.study_diff`)."""
    stored = find_version(study_oid, version)
    return StudyDefinition(json.loads(stored.study_json), json.loads(stored.forms_json))


def approval_date(value) -> str:
    """The ethics approval date as ``YYYY-MM-DD``; 422 on ``/approved`` unless a real date, not in the future."""
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value or ""))
    except ValueError:
        raise Invalid("the ethics approval date is not a date",
                      [FieldError("/approved", "must be a date, YYYY-MM-DD")]) from None
    if day > utc_now().date():
        raise Invalid("the ethics approval date is in the future",
                      [FieldError("/approved", "must not be in the future")])
    return day.isoformat()


def activate(study_oid: str, version: str, site: str, approved, *, actor: str) -> SiteVersion:
    """Activate a loaded version at a site from its ethics approval date on (audited).

    New subjects at the site start on it; existing casebooks move only by migration.
    :raise 404: unknown version; 400 unknown site; 422 a bad approval date.
    """
    target = find_version(study_oid, version)
    get_site(site)
    day = approval_date(approved)
    record_admin_event(f"study/{study_oid}", actor, "study_activated",
                       {"site": site, "version": version, "definition_hash": target.definition_hash,
                        "approved": day})
    return _set(study_oid, site, target, actor, approved=day, carried=False)


def carry_sites(study_oid: str, definition_hash: str, sites: list[str], *, actor: str) -> list[str]:
    """Keep each of ``sites`` that has activated nothing on ``definition_hash`` (audited); the sites carried.

    Called before a newer version is loaded, so that no site moves to it without its own activation.
    """
    known = {v.site for v in SiteVersion.objects(study=study_oid).only("site")}
    carried = [site for site in sites if site not in known]
    if not carried:
        return []
    held = Study.objects(definition_hash=definition_hash).first()
    record_admin_event(f"study/{study_oid}", actor, "study_sites_carried",
                       {"sites": carried, "version": held.version, "definition_hash": definition_hash})
    for site in carried:
        _set(study_oid, site, held, actor, approved=None, carried=True)
    return carried


def _set(study_oid: str, site: str, target: Study, actor: str, *, approved: str | None,
         carried: bool) -> SiteVersion:
    return SiteVersion(key=f"{study_oid}/{site}", study=study_oid, site=site,
                       definition_hash=target.definition_hash, version=target.version, approved=approved,
                       carried=carried, activated_at=utc_now(), activated_by=actor).save()


def site_versions(study_oid: str) -> dict[str, SiteVersion]:
    """Each site's active version of the study, by site code (sites that never activated one are absent)."""
    return {v.site: v for v in SiteVersion.objects(study=study_oid)}


def activations(study_oid: str) -> list[dict]:
    """Every site, in code order, with the version new subjects there start on and how it came to be.

    A site that never activated a version works on the current one: its ``approved``, ``activated_at``
    and ``activated_by`` are None.
    """
    active, current = site_versions(study_oid), study_runtime(study_oid)
    out = []
    for site in Site.objects.order_by("code").only("code"):
        held = active.get(site.code)
        out.append({"site": site.code, "version": held.version if held else current.version,
                    "definition_hash": held.definition_hash if held else current.definition_hash,
                    "approved": held.approved if held else None, "carried": bool(held and held.carried),
                    "activated_at": held.activated_at if held else None,
                    "activated_by": held.activated_by if held else None})
    return out


def version_for_new_subject(study_oid: str, site: str) -> str:
    """The definition hash a new subject at ``site`` starts on: the site's active version, else the current one."""
    active = SiteVersion._get_collection().find_one({"_id": f"{study_oid}/{site}"}, {"definition_hash": 1})
    return active["definition_hash"] if active else study_runtime(study_oid).definition_hash


def pinned_runtime(study: StudyRuntime, pinned: str | None) -> StudyRuntime:
    """The version a casebook pinned to ``pinned`` (a definition hash; None: not pinned yet) is read and saved with."""
    return study if not pinned or pinned == study.definition_hash else runtime_by_hash(pinned)


def loaded_versions(study_oid: str) -> list[Study]:
    """Every loaded version of the study, oldest first."""
    return list(Study.objects(oid=study_oid).order_by("loaded_at"))


def retired_labels(study_oid: str, form_oid: str, names, lang: str) -> dict[str, str]:
    """``{"/ITEM": label}`` of items a form no longer has, from the newest loaded version that had them."""
    found: dict[str, str] = {}
    for stored in reversed(loaded_versions(study_oid)):
        form = runtime_by_hash(stored.definition_hash).forms.get(form_oid)
        for name in names:
            if form is not None and name in form.item_by_oid and f"/{name}" not in found:
                found[f"/{name}"] = form.item_by_oid[name].label(lang)
    return found
