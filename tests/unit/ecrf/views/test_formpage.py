"""ecrf.views.formpage: the form page's values resolved once, for a blank form and a saved record."""

from ecrf.errors import FieldError, Invalid
from ecrf.records.reads import get_record
from ecrf.sites import site_timezone
from ecrf.studies import study_runtime
from ecrf.subjects import get_subject
from ecrf.users import get_user
from ecrf.views.formpage import Rejection, filled_form, form_page_context, refused_save
from ecrf.webforms import form_class


def _page(app, username: str, subject: str):
    with app.test_request_context():
        runtime, user = study_runtime("MINI"), get_user(username)
        found = get_subject(runtime, user, subject)
        event, form = runtime.form_in_event("SCREEN", "VS")
        record = get_record(runtime, user, subject, "SCREEN", "VS", subject=found)
        tz = site_timezone(found.site)
        wtform = filled_form(form_class(form, "en"), form, record, tz)
        return form_page_context(runtime, user, found, event, form, record, wtform, Rejection(), tz)


def test_a_blank_form_has_version_zero_and_nothing_missing_derived_or_flagged(app, subject):
    page = _page(app, "staff01", subject)
    assert page.record is None and page.wtform.version.data == "0"
    assert page.derived == {} and page.missing == [] and page.item_flags == {} and page.signatures == []
    assert page.editable and page.can["answer"] and not page.can["lock"]


def test_a_saved_record_gives_its_version_derived_values_and_missing_items(app, staff, subject):
    assert staff.save(subject, "SCREEN", "VS", {"WEIGHT": 120}).status_code == 201
    page = _page(app, "staff01", subject)
    assert page.wtform.version.data == "1"
    assert page.derived["DOUBLE_WEIGHT"] == 240.0 and page.derived["HEAVY"] is True
    assert set(page.missing) == {"/VSDTC", "/HEIGHT"}


def test_the_template_receives_every_value_by_its_own_name(app, subject):
    values = _page(app, "staff01", subject).template_values()
    assert values["study"].oid == "MINI" and values["form"].oid == "VS" and values["event"]["oid"] == "SCREEN"
    assert {"record", "wtform", "errors", "field_errors", "tz", "lifecycle", "editable", "missing", "derived",
            "signatures", "item_queries", "item_flags", "can"} <= set(values)


def test_a_refused_save_is_shown_beside_the_field_its_pointer_names(app):
    with app.test_request_context(method="POST", data={"WEIGHT": "999"}):
        form = study_runtime("MINI").form("VS")
        wtform = form_class(form, "en")()
        rejection = refused_save(Invalid("the record is not valid", [FieldError("/WEIGHT", "must be at most 400")]),
                                 form, wtform)
    assert rejection.status == 422
    assert rejection.errors == [{"path": "/WEIGHT", "message": "must be at most 400"}]
    assert rejection.field_errors == {"WEIGHT": ["must be at most 400"]}
