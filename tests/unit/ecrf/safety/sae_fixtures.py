"""Helpers for the SAE tests: a sponsor's safety reviewer on the CD7 study, a subject with a serious adverse
event (the fixtures that use them live in each test module: a conftest here would shadow the suite's)."""

from conftest import PASSWORD, Api

from ecrf.users import add_user, issue_token

AE_ROW = {"AETERM": "Febrile neutropenia", "AETOXGR": 3, "AESTDTC": "2026-03-01", "AESER": True,
          "AESERCAT": ["hosp"], "AERELCAR": "possible", "AERELLD": "probable", "AEOUT": "recovering"}


def safety_reviewer(cd7_app) -> Api:
    """``safety`` (role safety, every site) as an API client."""
    with cd7_app.app_context():
        add_user("safety", "safety", [], PASSWORD, full_name="Safety Reviewer")
        token = issue_token("safety")
    return Api(cd7_app.test_client(), token, "CD7_CART_SAA")


def serious_event(cd7) -> tuple[str, str]:
    """(subject, report id) of a subject at site 01 whose serious adverse event opened a report."""
    staff = cd7("staff01")
    subject = staff.register()
    assert staff.save(subject, "LOGS", "AE", {"AE": [AE_ROW]}).status_code == 201
    (report,) = staff.get("/studies/CD7_CART_SAA/sae").get_json()
    return subject, report["id"]
