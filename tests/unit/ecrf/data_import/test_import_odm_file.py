"""ODM ClinicalData read into submissions: our OIDs and the sources', transactions in order, hostile XML refused."""

from pathlib import Path

import pytest

from ecrf.data_import.catalogue import Catalogue
from ecrf.data_import.odm_file import read_clinical_data
from ecrf.data_import.submission import Change, UnreadableFile, applied
from ecrf.definitions import CompiledForm
from ecrf.studies import StudyRuntime

ODM = 'xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2" FileOID="F" CreationDateTime="2026-01-01T00:00:00Z"'

LAB = {"title": "Labs", "type": "object", "x-ecrf-source-oid": "F_LAB",
       "properties": {
           "HGB": {"type": "number", "title": "Haemoglobin", "x-ecrf-source-oid": "I_HGB"},
           "DONE": {"type": "boolean", "title": "Done"},
           "AE": {"type": "array", "title": "Events", "x-ecrf-source-oid": "IG_AE",
                  "items": {"type": "object", "properties": {
                      "TERM": {"type": "string", "title": "Term", "x-ecrf-source-oid": "I_TERM"}}}}},
       "x-ecrf-derived": {"HGB_GDL": {"title": "Hb g/dL", "type": "number", "expr": "data.HGB / 10.0"}}}


@pytest.fixture
def catalogue():
    study = StudyRuntime(
        "h",
        {
            "oid": "S",
            "x-ecrf-source-oid": "S_OLD",
            "name": "S",
            "version": "1",
            "events": [{"oid": "V1", "name": "Visit 1", "forms": ["LAB"], "x-ecrf-source-oid": "SE_V1"}],
        },
        {"LAB": CompiledForm("LAB", LAB)},
    )
    return Catalogue(study)


def write(tmp_path: Path, body: str, head: str = "") -> Path:
    path = tmp_path / "data.xml"
    path.write_text(f'<?xml version="1.0"?>{head}\n<ODM {ODM}>\n{body}\n</ODM>\n')
    return path


def test_source_oids_and_our_export_oids_reach_the_same_items(tmp_path, catalogue):
    path = write(
        tmp_path,
        """<ClinicalData StudyOID="S_OLD" MetaDataVersionOID="M">
 <SubjectData SubjectKey="P1"><SiteRef LocationOID="LOC.01"/>
  <StudyEventData StudyEventOID="SE_V1"><FormData FormOID="F_LAB">
   <ItemGroupData ItemGroupOID="IG_LAB_FLAT">
     <ItemData ItemOID="I_HGB" Value="135"/><ItemData ItemOID="IT.LAB.DONE" Value="true"/>
     <ItemData ItemOID="IT.LAB.HGB_GDL" Value="13.5"/>
   </ItemGroupData>
   <ItemGroupData ItemGroupOID="IG_AE" ItemGroupRepeatKey="1"><ItemData ItemOID="I_TERM" Value="fever"/>
     <AuditRecord><UserRef UserOID="U.ann"/><LocationRef LocationOID="L1"/>
      <DateTimeStamp>2025-05-01T10:00:00Z</DateTimeStamp><ReasonForChange>typo</ReasonForChange></AuditRecord>
   </ItemGroupData>
  </FormData></StudyEventData></SubjectData></ClinicalData>""",
    )
    [found] = read_clinical_data(path, catalogue)
    assert (found.subject, found.event, found.form, found.site, found.faults) == ("P1", "V1", "LAB", "01", [])
    assert applied({}, found.changes) == {"HGB": 135, "DONE": True, "AE": [{"row_id": "1", "TERM": "fever"}]}
    assert found.provenance == {
        "file": "data.xml",
        "line": 11,
        "user": "U.ann",
        "at": "2025-05-01T10:00:00Z",
        "reason": "typo",
        "location": "L1",
    }


def test_transactions_apply_in_order_and_remove_items_rows_and_forms(tmp_path, catalogue):
    path = write(
        tmp_path,
        """<ClinicalData StudyOID="S" MetaDataVersionOID="M">
 <SubjectData SubjectKey="P1"><StudyEventData StudyEventOID="V1"><FormData FormOID="LAB">
   <ItemGroupData ItemGroupOID="IG.LAB" TransactionType="Upsert">
     <ItemData ItemOID="HGB" Value="120" TransactionType="Insert"/></ItemGroupData>
   <ItemGroupData ItemGroupOID="IG.LAB" TransactionType="Upsert">
     <ItemData ItemOID="HGB" Value="121" TransactionType="Update"/>
     <ItemData ItemOID="DONE" TransactionType="Remove"/></ItemGroupData>
   <ItemGroupData ItemGroupOID="IG.LAB.AE" ItemGroupRepeatKey="r1" TransactionType="Remove"/>
   <ItemGroupData ItemGroupOID="IG.LAB" TransactionType="Context"><ItemData ItemOID="HGB" Value="999"/></ItemGroupData>
 </FormData></StudyEventData></SubjectData>
 <SubjectData SubjectKey="P2"><StudyEventData StudyEventOID="V1"><FormData FormOID="LAB" TransactionType="Remove"/>
 </StudyEventData></SubjectData></ClinicalData>""",
    )
    first, second = read_clinical_data(path, catalogue)
    stored = {"HGB": 100, "DONE": True, "AE": [{"row_id": "r1", "TERM": "a"}, {"row_id": "r2", "TERM": "b"}]}
    assert applied(stored, first.changes) == {"HGB": 121, "AE": [{"row_id": "r2", "TERM": "b"}]}
    assert second.changes == [Change("clear")] and applied(stored, second.changes) == {}


def test_unknown_names_and_bad_values_are_faults_naming_line_pointer_and_label(tmp_path, catalogue):
    path = write(
        tmp_path,
        """<ClinicalData StudyOID="S" MetaDataVersionOID="M">
 <SubjectData SubjectKey="P1"><StudyEventData StudyEventOID="V1"><FormData FormOID="LAB">
   <ItemGroupData ItemGroupOID="IG.LAB">
     <ItemData ItemOID="HGB" Value="high"/>
     <ItemData ItemOID="NOPE" Value="1"/></ItemGroupData>
 </FormData></StudyEventData><StudyEventData StudyEventOID="V9"/></SubjectData></ClinicalData>""",
    )
    form, subject = read_clinical_data(path, catalogue)
    assert [(f.path, f.message) for f in form.faults] == [
        ("/HGB", "line 6: Haemoglobin: 'high' is not a number"),
        ("/NOPE", "line 7: no item 'NOPE' in form LAB"),
    ]
    assert [(f.path, f.message) for f in subject.faults] == [("/event", "line 8: no event 'V9' in study S")]


@pytest.mark.parametrize(
    "head, entity",
    [
        (
            '<!DOCTYPE ODM [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>',
            "c",
        ),  # billion laughs, in small
        ('<!DOCTYPE ODM [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "x"),  # an external entity
    ],
)
def test_hostile_xml_is_refused_before_anything_is_read(tmp_path, catalogue, head, entity):
    path = write(
        tmp_path,
        f'<ClinicalData StudyOID="S" MetaDataVersionOID="M"><SubjectData SubjectKey="&{entity};"/></ClinicalData>',
        head,
    )
    with pytest.raises(UnreadableFile, match=r"^data.xml:\d+: .*(declares entities|references external entity)"):
        read_clinical_data(path, catalogue)


@pytest.mark.parametrize(
    "text, says",
    [
        ('<ODM xmlns="http://www.cdisc.org/ns/odm/v2.0" ODMVersion="2.0"/>', "ODM 2.0 is not supported"),
        ("<ODM", "not well-formed XML"),
        (f'<ODM {ODM}><ClinicalData StudyOID="OTHER" MetaDataVersionOID="M"/></ODM>', "study 'OTHER', not S"),
        (f"<ODM {ODM}/>", "no ClinicalData"),
    ],
)
def test_files_that_are_not_this_studys_odm_are_refused_with_file_and_line(tmp_path, catalogue, text, says):
    path = tmp_path / "data.xml"
    path.write_text(text)
    with pytest.raises(UnreadableFile, match=f"^data.xml:1: .*{says}"):
        read_clinical_data(path, catalogue)
