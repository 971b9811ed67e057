"""API for SAE reports: the list (overdue first), one report, its content, and its state changes."""

from __future__ import annotations

from flask import g, jsonify, request

from audit import utc_now
from ecrf.api import schemas
from ecrf.api.blueprint import api, json_body
from ecrf.api.fields.sae import sae_json
from ecrf.api.sae_schemas import SaeReview, SaeSubmit, SaeUpdate
from ecrf.auth import password_check
from ecrf.downloads import cioms_download
from ecrf.i18n import current_language
from ecrf.safety import reports

REPORT = "/studies/<study>/sae/<report_id>"


def _answer(report):
    return jsonify(sae_json(report, utc_now()))


@api.get("/studies/<study>/sae")
def sae_reports(study: str):
    now = utc_now()
    found = reports.list_reports(g.runtime, g.user, site=request.args.get("site"), state=request.args.get("state"),
                                 overdue_only=request.args.get("overdue") in ("1", "true"), now=now)
    return jsonify([sae_json(r, now) for r in found])


@api.get(REPORT)
def sae_report(study: str, report_id: str):
    return _answer(reports.get_report(g.runtime, g.user, report_id))


@api.put(REPORT)
def sae_update(study: str, report_id: str):
    body = schemas.load(SaeUpdate(), json_body())
    return _answer(reports.update_report(g.runtime, g.user, report_id, body["content"], body.get("version")))


@api.post(REPORT + "/submit")
def sae_submit(study: str, report_id: str):
    body = schemas.load(SaeSubmit(), json_body())
    return _answer(reports.submit(g.runtime, g.user, report_id, body["password"], check_password=password_check(),
                                  version=body.get("version")))


@api.post(REPORT + "/acknowledge")
def sae_acknowledge(study: str, report_id: str):
    body = schemas.load(SaeReview(), json_body(optional=True))
    return _answer(reports.acknowledge(g.runtime, g.user, report_id, body.get("text")))


@api.post(REPORT + "/followup")
def sae_followup(study: str, report_id: str):
    body = schemas.load(SaeReview(), json_body())
    return _answer(reports.request_followup(g.runtime, g.user, report_id, body.get("text"), body.get("due")))


@api.post(REPORT + "/close")
def sae_close(study: str, report_id: str):
    body = schemas.load(SaeReview(), json_body(optional=True))
    return _answer(reports.close(g.runtime, g.user, report_id, body.get("text")))


@api.get(REPORT + "/cioms.pdf")
def sae_cioms(study: str, report_id: str):
    """The report as a CIOMS-I PDF in ``?lang=`` (en, zh), else the caller's language."""
    lang = request.args.get("lang") or current_language()
    return cioms_download(g.runtime, reports.get_report(g.runtime, g.user, report_id), lang)
