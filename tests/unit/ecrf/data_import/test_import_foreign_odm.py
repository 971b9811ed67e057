"""A foreign system's data matches the study its metadata became: OpenClinica OIDs found through
``x-ecrf-source-oid``, codes typed, repeating rows kept, soft range checks raising queries."""

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, make_app

CLINICAL = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Snapshot" ODMVersion="1.3.2" FileOID="OC.1"
     CreationDateTime="2025-06-01T00:00:00Z">
 <ClinicalData StudyOID="S_LABDEMO" MetaDataVersionOID="v1.0.0">
  <SubjectData SubjectKey="SS_001"><SiteRef LocationOID="01"/>
   <StudyEventData StudyEventOID="SE_SCREEN">
    <FormData FormOID="F_LAB_V10">
     <ItemGroupData ItemGroupOID="IG_LAB_UNGROUPED" TransactionType="Insert">
      <ItemData ItemOID="I_LAB_RBC" Value="3.9"/><ItemData ItemOID="I_LAB_DILUTION" Value=".001"/>
      <AuditRecord><UserRef UserOID="USR_oc_admin"/><LocationRef LocationOID="S_LABDEMO"/>
       <DateTimeStamp>2025-05-20T09:00:00+02:00</DateTimeStamp></AuditRecord>
     </ItemGroupData>
    </FormData>
    <FormData FormOID="F_CM_V10">
     <ItemGroupData ItemGroupOID="IG_CM_MEDS" ItemGroupRepeatKey="1">
       <ItemData ItemOID="I_CM_CMTRT" Value="ciclosporin"/>
      <ItemData ItemOID="I_CM_CMDOSE" Value="150"/></ItemGroupData>
     <ItemGroupData ItemGroupOID="IG_CM_MEDS" ItemGroupRepeatKey="2">
       <ItemData ItemOID="I_CM_CMTRT" Value="eltrombopag"/>
     </ItemGroupData>
    </FormData>
   </StudyEventData>
  </SubjectData>
 </ClinicalData>
</ODM>
"""


@pytest.fixture
def openclinica(tmp_path):
    """An app whose study is the OpenClinica fixture's metadata, as ``ecrf study import-odm`` drafts it."""
    draft = tmp_path / "draft"
    drafting = make_app(tmp_path / "drafting", "mongomock://", study=None)
    result = drafting.test_cli_runner().invoke(
        args=["study", "import-odm", str(FIXTURES / "odm" / "openclinica3.xml"), "-o", str(draft)]
    )
    assert result.exit_code == 0, result.output
    return make_app(tmp_path / "app", "mongomock://", study=draft), draft


def names(draft: Path, form: str) -> dict:
    """Our item names by their source OIDs (the rows' items too)."""
    schema = json.loads((draft / "imported" / f"{form}.json").read_text())
    found = {}
    for name, item in schema["properties"].items():
        found[item.get("x-ecrf-source-oid")] = name
        for child, spec in (item.get("items") or {}).get("properties", {}).items():
            found[spec.get("x-ecrf-source-oid")] = child
    return found


def test_openclinica_data_lands_in_the_items_its_oids_became_and_raises_the_soft_check(openclinica, tmp_path):
    app, draft = openclinica
    source = tmp_path / "oc-data.xml"
    source.write_text(CLINICAL)
    result = app.test_cli_runner().invoke(args=["import", "odm", str(source), "--study", "S_LABDEMO", "--as", "dm"])
    assert result.exit_code == 0, result.output
    assert "created 2, updated 0, unchanged 0, refused 0; queries raised 1; subjects registered 1" in result.output
    lab, meds = names(draft, "F_LAB_V10"), names(draft, "F_CM_V10")
    with app.app_context():
        from ecrf.queries import Query
        from ecrf.records.document import Record
        from ecrf.trail import audit_store

        stored = {r.form: r for r in Record.objects(subject="SS_001")}
        assert stored["F_LAB_V10"].data == {lab["I_LAB_RBC"]: 3.9, lab["I_LAB_DILUTION"]: 0.001}
        rows = stored["F_CM_V10"].data[meds["IG_CM_MEDS"]]
        assert [{k: v for k, v in row.items() if k != "row_id"} for row in rows] == [
            {meds["I_CM_CMTRT"]: "ciclosporin", meds["I_CM_CMDOSE"]: 150},
            {meds["I_CM_CMTRT"]: "eltrombopag"},
        ]
        [query] = Query.objects(subject="SS_001")
        assert query.item == f"/{lab['I_LAB_RBC']}"
        event = audit_store().events("record/S_LABDEMO/SS_001/SE_SCREEN/F_LAB_V10")[-1]
        assert event["context"]["provenance"]["user"] == "USR_oc_admin"
        assert event["context"]["provenance"]["at"] == "2025-05-20T09:00:00+02:00"
