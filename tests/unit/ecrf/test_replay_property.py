"""Property: any sequence of saves on any forms, replayed from the audit trail, gives the same records."""

from conftest import make_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Text the engine accepts (ecrf.text refuses control, format, separator and non-characters).
TEXT = st.characters(exclude_categories=("Cc", "Cs", "Cn", "Cf", "Zl", "Zp"))
VS = st.fixed_dictionaries({}, optional={
    "VSDTC": st.sampled_from(["2026-01-01", "2026-02-03"]),
    "HEIGHT": st.integers(100, 200) | st.floats(100, 200, allow_nan=False).map(lambda x: round(x, 1)),
    "WEIGHT": st.integers(40, 150),
    "VSTIM": st.sampled_from(["08:00", "17:45"]),
})
DM = st.fixed_dictionaries({}, optional={
    "SEX": st.just("M"), "BRTHDTC": st.sampled_from(["1980-01-01", "1999-12-31"]),
    "RACE": st.lists(st.sampled_from(["ASIAN", "WHITE", "OTHER"]), unique=True, max_size=3),
    "NOTES": st.text(TEXT, max_size=20), "CHILDREN": st.integers(0, 5),
})
ROW = st.fixed_dictionaries({"AETERM": st.text(TEXT, min_size=1, max_size=8)}, optional={
    "AESTDTC": st.sampled_from(["2026-01-01", "2026-03-01"]), "AESER": st.just(False)})
SAVES = st.lists(st.one_of(
    st.tuples(st.just("SCREEN"), st.just("VS"), VS),
    st.tuples(st.just("SCREEN"), st.just("DM"), DM),
    st.tuples(st.just("D28"), st.just("LB"), st.fixed_dictionaries({}, optional={"ALT": st.integers(1, 300)})),
    st.tuples(st.just("LOGS"), st.just("AE"), st.fixed_dictionaries({"AE": st.lists(ROW, max_size=3)})),
), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(saves=SAVES, keep_rows=st.lists(st.booleans(), min_size=12, max_size=12))
def test_replaying_every_stream_reproduces_every_projection(tmp_path_factory, saves, keep_rows):
    app = make_app(tmp_path_factory.mktemp("p"), "mongomock://")
    client = app.test_client()
    from conftest import Api

    staff = Api(client, app.tokens["staff01"])
    subject = staff.register()
    versions = {}
    for index, (event, form, data) in enumerate(saves):
        key = (event, form)
        if form == "AE" and versions.get(key):
            current = staff.get(staff.record_path(subject, event, form)).get_json()["data"].get("AE", [])
            kept = [row for row in current if keep_rows[index % len(keep_rows)]]
            data = {"AE": kept + data["AE"]}
        response = staff.save(subject, event, form, data, version=versions.get(key), reason="property test")
        assert response.status_code in (200, 201), response.get_json()
        versions[key] = response.get_json()["version"]
    with app.app_context():
        from ecrf.db import database
        from ecrf.integrity import replay_all, verify_all

        before = {d["_id"]: d for d in database().records.find()}
        database().records.delete_many({})
        replay_all()
        after = {d["_id"]: d for d in database().records.find()}
        assert verify_all() == []
    assert before.keys() == after.keys()
    for stream, document in before.items():
        for field in ("data", "derived", "status", "version", "head", "definition"):
            assert after[stream].get(field) == document.get(field), (stream, field)
