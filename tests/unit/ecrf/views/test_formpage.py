"""ecrf.views.formpage: the form page's values resolved once, for a blank form and a saved record."""

import pytest

from ecrf.definitions import Item
from ecrf.errors import Conflict, FieldError, Invalid
from ecrf.records.reads import get_record
from ecrf.records.validation import BOUNDS, Fault
from ecrf.sites import site_timezone
from ecrf.studies import study_runtime
from ecrf.subjects import get_subject
from ecrf.users import get_user
from ecrf.views.formpage import (
    Rejection,
    derived_number,
    filled_form,
    flag_text,
    form_page_context,
    item_hint,
    next_form,
    refused_save,
)
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


def test_a_refused_save_speaks_the_readers_language_keyed_faults_and_a_conflict_alike(app):
    fault = Fault("/WEIGHT", "999 is greater than the maximum of 400", BOUNDS["maximum"],
                  {"value": "999", "limit": 400})
    conflict = Conflict("the record is at version 2, not 1; reload and try again")
    with app.test_request_context(method="POST", data={"WEIGHT": "999"}):
        form = study_runtime("MINI").form("VS")
        wtform = form_class(form, "zh")()
        keyed = refused_save(Invalid("1 item(s) failed validation", [fault]), form, wtform, "zh")
        stale = refused_save(conflict, form, wtform, "zh")
        english = refused_save(conflict, form, wtform, "en")
    assert keyed.field_errors == {"WEIGHT": ["999 大于最大值 400"]}
    assert stale.status == 409 and stale.errors[0]["message"].startswith("无法保存此表单")
    assert english.errors[0]["message"] == "the record is at version 2, not 1; reload and try again"


def test_a_lab_flag_reads_as_text_with_its_reference_range_and_grade():
    item = Item("ALT", "number", {}, "ALT", unit="U/L", range_analyte="ALT")
    flag = {"item": "/ALT", "flag": "H", "low": 7, "high": 40}
    assert flag_text(flag, item, {"ALT_GRADE": 2}, "en") == "H · ref 7–40 U/L · CTCAE grade 2"
    assert flag_text(flag, item, {}, "zh") == "H · 参考范围 7–40 U/L"
    assert flag_text({"flag": "warning", "message": {"en": "late", "zh": "迟"}}, None, {}, "zh") == "迟"


def test_hints_name_the_unit_range_and_length_before_entry():
    assert item_hint(Item("W", "number", {"minimum": 1, "maximum": 400}, "W", unit="kg"), "en") == "Allowed 1–400 kg"
    assert item_hint(Item("T", "text", {"maxLength": 20}, "T"), "zh") == "最多 20 个字符"
    assert item_hint(Item("D", "date", {}, "D"), "en") == ""


def test_the_next_form_follows_the_events_schedule_order():
    event = {"forms": ["DM", "LB", "VS"]}
    assert next_form(event, "DM") == "LB" and next_form(event, "VS") is None and next_form(event, "XX") is None


@pytest.mark.parametrize(("stored", "shown"), [
    (1.8181, "1.82"),  # BSA (Mosteller, 170 cm, 70 kg) as CLINICAL.md stores it
    (54.543, "54.5"),  # an expected dose in mg
    (106.104, "106.1"),  # a creatinine converted to µmol/L
    (3000000.0, "3.00 × 10⁶"),  # CAR-T cells per kg
    (0.004, "0.004"),  # never rounded away to 0.00
    (7, "7"),  # integers (grades, scores, ages) as they are
])
def test_derived_numbers_are_shown_rounded_while_the_stored_value_keeps_its_precision(stored, shown):
    assert derived_number(stored) == shown
