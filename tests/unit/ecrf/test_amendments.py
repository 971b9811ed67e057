"""Property: random casebooks on v1, a random compatible v2; after migration nothing is lost that the trail
cannot show, the trail verifies, and a second migration changes nothing."""

import io
import json
import shutil

import pytest
from conftest import MINI_STUDY, OVERRIDDEN, Api, make_app
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

VS = st.fixed_dictionaries({"VSDTC": st.sampled_from(["2026-01-01", "2026-02-03"]),
                            "HEIGHT": st.integers(100, 200), "WEIGHT": st.integers(40, 150)},
                           optional={"VSTIM": st.sampled_from(["08:00", "17:45"])})
DM = st.fixed_dictionaries({"SEX": st.just("M"), "BRTHDTC": st.sampled_from(["1980-01-01", "1999-12-31"])},
                           optional={"RACE": st.lists(st.sampled_from(["ASIAN", "WHITE"]), unique=True, min_size=1,
                                                      max_size=2),
                                     "CHILDREN": st.integers(0, 5)})
CASEBOOKS = st.lists(st.tuples(st.sampled_from(["01", "02"]), VS, st.none() | DM), min_size=1, max_size=4)
# What v2 may drop (items no rule of the mini study needs) and whether it adds a required item.
DROPPABLE = ["VS/VSTIM", "DM/RACE", "DM/CHILDREN"]


def _v2(folder, dropped: list[str], add_required: bool, alt_limit: int):
    shutil.copytree(MINI_STUDY, folder)
    study = json.loads((folder / "study.json").read_text())
    study["version"] = "2"
    study["parameters"]["alt_limit"] = alt_limit
    (folder / "study.json").write_text(json.dumps(study))
    for form in ("VS", "DM"):
        path = folder / "screening" / f"{form}.json"
        schema = json.loads(path.read_text())
        for name in [d.split("/")[1] for d in dropped if d.startswith(form + "/")]:
            del schema["properties"][name]
            schema["required"] = [r for r in schema.get("required", []) if r != name]
        if add_required and form == "VS":
            schema["properties"]["VSPOS"] = {"type": "string", "title": "Position", "x-ecrf-labels": {"zh": "体位"}}
            schema["required"].append("VSPOS")
        path.write_text(json.dumps(schema))
    return folder


@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(casebooks=CASEBOOKS, dropped=st.lists(st.sampled_from(DROPPABLE), unique=True),
       add_required=st.booleans(), alt_limit=st.integers(2, 5))
def test_migration_loses_nothing_the_trail_cannot_show_and_runs_once(tmp_path_factory, casebooks, dropped,
                                                                      add_required, alt_limit):
    tmp = tmp_path_factory.mktemp("amend")
    app = make_app(tmp, "mongomock://")
    client = app.test_client()
    staff = {"01": Api(client, app.tokens["staff01"]), "02": Api(client, app.tokens["staff02"])}
    entered = {}
    for site, vs, dm in casebooks:
        subject = staff[site].register(site)
        assert staff[site].save(subject, "SCREEN", "VS", vs).status_code == 201
        entered[(subject, "VS")] = vs
        if dm is not None:
            assert staff[site].save(subject, "SCREEN", "DM", dm).status_code == 201
            entered[(subject, "DM")] = dm
    v2 = _v2(tmp / "v2", dropped, add_required, alt_limit)
    loaded = app.test_cli_runner().invoke(args=["study", "load", str(v2)])
    assert loaded.exit_code == 0, loaded.output
    with app.app_context():
        from ecrf.amendments import migrate
        from ecrf.db import database
        from ecrf.integrity import verify_all
        from ecrf.studies import study_runtime
        from ecrf.users import get_user

        dm_user, runtime = get_user("dm"), study_runtime("MINI")
        report = migrate(runtime, dm_user, "2", reason="amendment 2")
        assert report.counts() == {"migrated": len(casebooks)}
        for (subject, form), values in entered.items():
            record = database().records.find_one({"subject": subject, "form": form})
            kept = {**record["data"], **(record.get("retired") or {})}
            assert {k: kept.get(k) for k in values} == values  # every value in the data, or shown retired
            events = list(database().audit_events.find({"stream": record["_id"]}).sort("seq", 1))
            first = {c["path"].strip("/"): c["new"] for c in events[0]["changes"]}
            assert first == values  # and the trail keeps what was entered
        assert verify_all() == []
        before = database().audit_events.count_documents({})
        again = migrate(runtime, dm_user, "2", reason="amendment 2")
        assert again.counts() == {"unchanged": len(casebooks)}
        assert database().audit_events.count_documents({}) == before + 1  # only the run's own study event


@pytest.fixture
def two_versions(app, tmp_path):
    """The mini study with version 2 loaded (VSTIM dropped, VSPOS required) and one subject per site on v1."""
    client = app.test_client()
    subjects = {site: Api(client, app.tokens[f"staff{site}"]).register(site) for site in ("01", "02")}
    Api(client, app.tokens["staff01"]).save(subjects["01"], "SCREEN", "VS",
                                            {"VSDTC": "2026-01-01", "HEIGHT": 170, "WEIGHT": 70, "VSTIM": "08:00"})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["study", "load", str(_v2(tmp_path / "v2", ["VS/VSTIM"], True, 3))])
    assert result.exit_code == 0, result.output
    return runner, subjects


def test_a_site_without_approval_stays_on_v1(app, two_versions):
    runner, subjects = two_versions
    result = runner.invoke(args=["study", "activate", "2", "--site", "01", "--approved", "2026-01-02", "--as", "dm"])
    assert result.exit_code == 0, result.output
    client = app.test_client()
    new01 = Api(client, app.tokens["staff01"]).register("01")
    new02 = Api(client, app.tokens["staff02"]).register("02")
    with app.app_context():
        from ecrf.studies import Study
        from ecrf.subjects import Subject

        version = {s.definition_hash: s.version for s in Study.objects}
        pinned = {s.subject_id: version[s.study_version] for s in Subject.objects}
    assert pinned == {subjects["01"]: "1", subjects["02"]: "1", new01: "2", new02: "1"}


def test_activation_refuses_a_future_approval_date_naming_the_field(two_versions):
    runner, _ = two_versions
    result = runner.invoke(args=["study", "activate", "2", "--site", "01", "--approved", "2999-01-01", "--as", "dm"])
    assert result.exit_code == 1
    assert "/approved" in result.output


def test_a_dry_run_writes_nothing(app, two_versions):
    runner, subjects = two_versions
    with app.app_context():
        from ecrf.db import database

        before = {name: list(database()[name].find()) for name in ("audit_events", "records", "subjects")}
        result = runner.invoke(args=["study", "migrate", "--to", "2", "--dry-run", "--as", "dm"])
        after = {name: list(database()[name].find()) for name in ("audit_events", "records", "subjects")}
    assert result.exit_code == 0, result.output
    assert f"{subjects['01']} (site 01) 1 → 2: planned" in result.output
    assert "retired VSTIM; added VSPOS; now required and empty /VSPOS" in result.output
    assert before == after


def test_migration_is_refused_without_a_reason(two_versions):
    runner, _ = two_versions
    result = runner.invoke(args=["study", "migrate", "--to", "2", "--as", "dm"])
    assert result.exit_code == 1
    assert "/reason" in result.output


def test_exports_keep_retired_values_and_those_of_casebooks_on_an_older_version(app, two_versions):
    runner, subjects = two_versions
    with app.app_context():
        from ecrf.db import database
        from ecrf.exports.tables import RETIRED_COLUMN, columns, table_rows
        from ecrf.studies import study_runtime

        form = study_runtime("MINI").form("VS")  # version 2: VSTIM retired

        stored = list(database().records.find({"form": "VS"}))
        before = [dict(zip(columns(form, None), line, strict=True)) for line in table_rows(form, None, stored)]
        assert before[0][RETIRED_COLUMN] == '{"VSTIM": "08:00"}'  # still on version 1, not yet migrated
    result = runner.invoke(args=["study", "migrate", "--to", "2", "--reason", "amendment 2", "--as", "dm"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        stored = list(database().records.find({"form": "VS"}))
        assert stored[0]["retired"] == {"VSTIM": "08:00"} and "VSTIM" not in stored[0]["data"]
        after = [dict(zip(columns(form, None), line, strict=True)) for line in table_rows(form, None, stored)]
        assert after[0][RETIRED_COLUMN] == '{"VSTIM": "08:00"}'


def test_a_casebook_with_a_locked_record_is_reported_and_skipped(app, two_versions):
    runner, subjects = two_versions
    dm = Api(app.test_client(), app.tokens["dm"])
    path = dm.record_path(subjects["01"], "SCREEN", "VS")
    assert dm.post(path + "/lock", OVERRIDDEN).status_code == 200
    before = dm.get(path).get_json()
    result = runner.invoke(args=["study", "migrate", "--to", "2", "--reason", "amendment 2", "--as", "dm"])
    assert result.exit_code == 0, result.output
    assert f"{subjects['01']} (site 01) 1 → 2: skipped: SCREEN/VS locked" in result.output
    assert dm.get(path).get_json() == before
    with app.app_context():
        from ecrf.studies import Study
        from ecrf.subjects import Subject

        version = {s.definition_hash: s.version for s in Study.objects}
        assert version[Subject.objects(subject_id=subjects["01"]).first().study_version] == "1"
        assert version[Subject.objects(subject_id=subjects["02"]).first().study_version] == "2"


def test_a_zip_unpacking_beyond_the_size_limit_is_refused(tmp_path, monkeypatch):
    import io
    import zipfile

    from ecrf import study_uploads
    from ecrf.errors import Invalid

    monkeypatch.setattr(study_uploads, "MAX_BYTES", 1000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("study.json", " " * 5000)  # compresses to a few bytes: the header is not trusted
    with pytest.raises(Invalid) as refused:
        study_uploads.unpack(buffer.getvalue(), tmp_path / "up")
    assert refused.value.errors[0].path == "/file" and "unpacked" in refused.value.errors[0].message


def _record(app, subject: str, form: str = "VS") -> dict:
    return Api(app.test_client(), app.tokens["staff01"]).get(f"/studies/MINI/subjects/{subject}/events/SCREEN/forms/"
                                                             f"{form}").get_json()


def test_a_csv_import_checks_a_v1_casebook_with_version_1s_forms(app, two_versions, tmp_path):
    runner, subjects = two_versions  # v2 drops VSTIM (the v1 record holds one) and requires VSPOS
    lab = tmp_path / "vs.csv"
    lab.write_text(f"subject,WEIGHT\n{subjects['01']},72\n", encoding="utf-8")
    done = runner.invoke(args=["import", "csv", str(lab), "--form", "VS", "--event", "SCREEN", "--study", "MINI",
                               "--as", "dm"])
    assert done.exit_code == 0, done.output
    record = _record(app, subjects["01"])
    assert record["data"]["WEIGHT"] == 72 and record["data"]["VSTIM"] == "08:00" and record["retired"] == {}
    # A version-2 item is not one of the v1 casebook's: refused by name, nothing written.
    new_item = tmp_path / "vspos.csv"
    new_item.write_text(f"subject,VSPOS\n{subjects['01']},supine\n", encoding="utf-8")
    errors = tmp_path / "errors.csv"
    refused = runner.invoke(args=["import", "csv", str(new_item), "--form", "VS", "--event", "SCREEN", "--study",
                                  "MINI", "--as", "dm", "--errors", str(errors)])
    assert "/VSPOS" in errors.read_text(encoding="utf-8"), refused.output
    assert "VSPOS" not in _record(app, subjects["01"])["data"]


def test_an_odm_import_reads_a_v1_casebook_with_version_1s_items(app, two_versions, tmp_path):
    runner, subjects = two_versions
    odm = tmp_path / "clinical.xml"
    odm.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Snapshot" FileOID="F1" CreationDateTime="2026-01-05T00:00:00"
     ODMVersion="1.3.2">
 <ClinicalData StudyOID="MINI" MetaDataVersionOID="MDV.1">
  <SubjectData SubjectKey="{subjects['01']}"><StudyEventData StudyEventOID="SE.SCREEN"><FormData FormOID="F.VS">
   <ItemGroupData ItemGroupOID="IG.VS"><ItemData ItemOID="IT.VS.VSTIM" Value="09:30"/></ItemGroupData>
  </FormData></StudyEventData></SubjectData>
 </ClinicalData>
</ODM>""", encoding="utf-8")
    done = runner.invoke(args=["import", "odm", str(odm), "--study", "MINI", "--as", "dm"])
    assert done.exit_code == 0, done.output
    assert _record(app, subjects["01"])["data"]["VSTIM"] == "09:30"


def test_the_odm_export_writes_each_casebook_with_its_own_versions_metadata(app, two_versions):
    runner, subjects = two_versions
    assert runner.invoke(args=["study", "activate", "2", "--site", "01", "--approved", "2026-01-02",
                               "--as", "dm"]).exit_code == 0
    new01 = Api(app.test_client(), app.tokens["staff01"]).register("01")  # on version 2
    with app.app_context():
        from lxml import etree

        from ecrf.exports import export_subjects
        from ecrf.exports.odm import odm_schema, write_odm
        from ecrf.studies import study_runtime

        out = io.BytesIO()
        runtime = study_runtime("MINI")
        assert write_odm(out, runtime, export_subjects(runtime)) == 3
    document = etree.fromstring(out.getvalue())
    odm_schema().assertValid(document)
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
    versions = {mdv.get("OID"): mdv for mdv in document.iterfind(".//odm:MetaDataVersion", ns)}
    assert len(versions) == 2
    by_subject = {s.get("SubjectKey"): c.get("MetaDataVersionOID")
                  for c in document.iterfind("odm:ClinicalData", ns) for s in c.iterfind("odm:SubjectData", ns)}
    assert by_subject[subjects["01"]].startswith("MDV.1.") and by_subject[subjects["02"]].startswith("MDV.1.")
    assert by_subject[new01].startswith("MDV.2.")
    v1 = versions[by_subject[subjects["01"]]]
    assert v1.find(".//odm:ItemDef[@OID='IT.VS.VSTIM']", ns) is not None  # the v1 casebook's item is defined
    assert versions[by_subject[new01]].find(".//odm:ItemDef[@OID='IT.VS.VSTIM']", ns) is None
    values = [i.get("Value") for i in document.iterfind(".//odm:ItemData[@ItemOID='IT.VS.VSTIM']", ns)]
    assert values == ["08:00"]


def test_a_migration_and_its_saves_take_the_amendment_permission_not_the_import_one(app, two_versions, monkeypatch):
    import ecrf.roles
    from ecrf.errors import Forbidden
    from ecrf.records.save import save_record
    from ecrf.studies import study_runtime
    from ecrf.users import get_user

    runner, subjects = two_versions
    # A matrix where data managers may import but not amend: every step of a migration is refused.
    monkeypatch.setitem(ecrf.roles.PERMISSIONS, ecrf.roles.Action.AMEND_STUDY, frozenset())
    with app.app_context():
        with pytest.raises(Forbidden):
            save_record(study_runtime("MINI"), get_user("dm"), subjects["01"], "SCREEN", "VS", {"WEIGHT": 71}, 1,
                        "amendment", provenance={"amendment": {"from": "1", "to": "2", "reason": "x"}})
    result = runner.invoke(args=["study", "migrate", "--to", "2", "--reason", "amendment 2", "--as", "dm"])
    assert result.exit_code == 1 and "may not amend study" in result.output, result.output


def test_the_csv_tables_label_a_v1_casebooks_codes_with_version_1s_code_lists(app, tmp_path):
    client = app.test_client()
    staff = Api(client, app.tokens["staff01"])
    old = staff.register("01")
    assert staff.save(old, "SCREEN", "DM", {"SEX": "M", "BRTHDTC": "1980-01-01"}).status_code == 201
    folder = _v2(tmp_path / "v2", [], False, 3)
    dm_file = folder / "screening" / "DM.json"
    schema = json.loads(dm_file.read_text())
    schema["properties"]["SEX"]["oneOf"][0]["title"] = "Male (assigned at birth)"
    dm_file.write_text(json.dumps(schema))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["study", "load", str(folder)]).exit_code == 0
    assert runner.invoke(args=["study", "activate", "2", "--site", "01", "--approved", "2026-01-02",
                               "--as", "dm"]).exit_code == 0
    new = staff.register("01")  # on version 2
    assert staff.save(new, "SCREEN", "DM", {"SEX": "M", "BRTHDTC": "1990-01-01"}).status_code == 201
    with app.app_context():
        from ecrf.exports.tables import columns, subject_tables, tables
        from ecrf.studies import study_runtime

        runtime = study_runtime("MINI")
        found = tables(runtime)
        dm_table = next(n for n, (name, _, _) in enumerate(found) if name == "DM")
        rows = [dict(zip(columns(found[dm_table][1], None), line, strict=True))
                for index, line in subject_tables(runtime, found, [old, new]) if index == dm_table]
    assert {row["subject"]: row["SEX_LABEL"] for row in rows} == {old: "Male", new: "Male (assigned at birth)"}
