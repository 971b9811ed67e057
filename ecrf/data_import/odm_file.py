"""ODM 1.3.x ClinicalData read into submissions: snapshot and transactional files alike.

Changes apply in document order, so a transactional file (every change with its own
AuditRecord, as our export writes it) ends at the same data as a snapshot of it.
TransactionType ``Context`` changes nothing; ``Remove`` on ItemData, a repeating
ItemGroupData, FormData or StudyEventData removes the item, the row, or every item of
the form(s); ``Insert``, ``Update`` and ``Upsert`` set. Derived values are skipped (the
write path derives them again). The parser is :func:`ecrf.odm_import.reader.read_odm`'s:
no entity is expanded, no DTD or network read.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from ecrf.data_import.catalogue import Catalogue, FormNames
from ecrf.data_import.submission import Change, Submission, UnreadableFile
from ecrf.data_import.values import typed
from ecrf.errors import FieldError
from ecrf.odm_import.reader import ImportError_, read_odm
from ecrf.text import pointer_token

SKIPPED = "Context"
REMOVED = "Remove"


def _local(element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _children(element, name: str) -> list:
    return [child for child in element if _local(child) == name]


def _child_text(element, name: str) -> str | None:
    found = _children(element, name)
    return (found[0].text or "").strip() or None if found else None


def audit_record(element, file: str) -> dict | None:
    """The provenance an element's AuditRecord gives: the source's user, time, reason, location and id."""
    records = _children(element, "AuditRecord")
    if not records:
        return None
    record = records[0]
    user = _children(record, "UserRef")
    location = _children(record, "LocationRef")
    found = {"file": file, "line": record.sourceline,
             "user": user[0].get("UserOID") if user else None,
             "at": _child_text(record, "DateTimeStamp"),
             "reason": _child_text(record, "ReasonForChange"),
             "location": location[0].get("LocationOID") if location else None,
             "source_id": _child_text(record, "SourceID")}
    return {key: value for key, value in found.items() if value is not None}


class ClinicalDataReader:
    """Reads one file's ClinicalData for one study into submissions keyed by form instance."""

    def __init__(self, study_catalogue: Catalogue, file: str):
        self.catalogue = self.version = study_catalogue
        self.file = file
        self.found: dict[tuple, Submission] = {}

    def submission(self, subject: str, event: str | None, form: str | None, site: str | None, line: int,
                   provenance: dict) -> Submission:
        key = (subject, event, form)
        if key not in self.found:
            self.found[key] = Submission(line, subject, event, form, site, provenance=dict(provenance))
        return self.found[key]

    def refuse(self, subject: str, element, path: str, message: str, site: str | None = None) -> None:
        found = self.submission(subject, None, None, site, element.sourceline, {"file": self.file})
        found.faults.append(FieldError(path, f"line {element.sourceline}: {message}"))

    def subject_data(self, element) -> None:
        subject = (element.get("SubjectKey") or "").strip()
        if not subject:
            self.refuse("", element, "/SubjectKey", "SubjectData without a SubjectKey")
            return
        transaction = element.get("TransactionType")
        if transaction == SKIPPED:
            return
        site_refs = _children(element, "SiteRef")
        site = self.catalogue.site(site_refs[0].get("LocationOID")) if site_refs else None
        if transaction == REMOVED:
            self.refuse(subject, element, "/SubjectKey", "an import never removes a subject", site)
            return
        provenance = audit_record(element, self.file) or {"file": self.file}
        self.version = self.catalogue.of(subject, site)  # the names of the subject's own study version
        for event_element in _children(element, "StudyEventData"):
            self.event_data(subject, site, event_element, provenance)

    def event_data(self, subject: str, site: str | None, element, provenance: dict) -> None:
        transaction = element.get("TransactionType")
        if transaction == SKIPPED:
            return
        name = element.get("StudyEventOID")
        event = self.version.event(name)
        if event is None:
            self.refuse(subject, element, "/event", f"no event {name!r} in study {self.version.study.oid}", site)
            return
        provenance = audit_record(element, self.file) or provenance
        if transaction == REMOVED:
            for form in self.version.study.event(event)["forms"]:
                found = self.submission(subject, event, form, site, element.sourceline, provenance)
                found.changes.append(Change("clear"))
            return
        for form_element in _children(element, "FormData"):
            self.form_data(subject, site, event, form_element, provenance)

    def form_data(self, subject: str, site: str | None, event: str, element, provenance: dict) -> None:
        transaction = element.get("TransactionType")
        if transaction == SKIPPED:
            return
        name = element.get("FormOID")
        form = self.version.form(name)
        if form is None or form not in self.version.study.event(event)["forms"]:
            self.refuse(subject, element, "/form", f"no form {name!r} in event {event}", site)
            return
        found = self.submission(subject, event, form, site, element.sourceline,
                                audit_record(element, self.file) or provenance)
        if transaction == REMOVED:
            found.changes.append(Change("clear"))
        names = self.version.names[form]
        for group_element in _children(element, "ItemGroupData"):
            self.group_data(found, names, group_element)

    def group_data(self, found: Submission, names: FormNames, element) -> None:
        transaction = element.get("TransactionType")
        if transaction == SKIPPED:
            return
        group = names.group(element.get("ItemGroupOID"))
        row = element.get("ItemGroupRepeatKey")
        self.note(found, element)
        if group is not None and not row:
            found.faults.append(FieldError(f"/{group}", f"line {element.sourceline}: a row without ItemGroupRepeatKey"))
            return
        if group is not None and transaction == REMOVED:
            found.changes.append(Change("remove_row", group=group, row=row))
            return
        for item_element in element:
            if _local(item_element).startswith("ItemData"):
                self.item_data(found, names, group, row, item_element, removing=transaction == REMOVED)

    def item_data(self, found: Submission, names: FormNames, group: str | None, row: str | None, element,
                  removing: bool) -> None:
        transaction = element.get("TransactionType")
        if transaction == SKIPPED:
            return
        name = element.get("ItemOID") or ""
        if group is None and name in names.derived:
            return
        item = names.item(name, group)
        prefix = f"/{group}/{pointer_token(row)}" if group is not None else ""
        if item is None:
            where = f"group {group}" if group else f"form {found.form}"
            found.faults.append(FieldError(f"{prefix}/{pointer_token(name)}",
                                           f"line {element.sourceline}: no item {name!r} in {where}"))
            return
        self.note(found, element)
        pointer = f"{prefix}/{item.oid}"
        if removing or transaction == REMOVED or element.get("IsNull") == "Yes":
            found.changes.append(Change("remove", item.oid, group=group, row=row))
            return
        text = element.get("Value")
        if text is None:
            text = element.text or ""
        try:
            value = typed(item, text)
        except ValueError as error:
            found.faults.append(FieldError(pointer, f"line {element.sourceline}: {item.label('en')}: {error}"))
            return
        found.changes.append(Change("set", item.oid, value, group=group, row=row))

    def note(self, found: Submission, element) -> None:
        """Keep the latest AuditRecord of the form instance as its provenance."""
        record = audit_record(element, self.file)
        if record is not None:
            found.provenance = record


def read_clinical_data(path: str | Path, study_catalogue: Catalogue, file: str | None = None) -> list[Submission]:
    """Every form instance's submission in the ClinicalData of ``path`` for the catalogue's study, in file order.

    :class:`UnreadableFile` (``file:line: message``) for XML that is not well formed, hostile
    (entities), not ODM 1.3, without ClinicalData or with another study's.
    """
    file = file or Path(path).name
    try:
        root = read_odm(path)
    except ImportError_ as error:
        raise UnreadableFile(str(error).replace(str(path), file, 1)) from None
    blocks = _children(root, "ClinicalData")
    if not blocks:
        raise UnreadableFile(f"{file}:{root.sourceline}: no ClinicalData in the file")
    reader = ClinicalDataReader(study_catalogue, file)
    for block in blocks:
        if block.get("StudyOID") not in study_catalogue.study_names:
            raise UnreadableFile(f"{file}:{block.sourceline}: ClinicalData of study {block.get('StudyOID')!r}, "
                                 f"not {study_catalogue.study.oid}")
        for subject_element in _children(block, "SubjectData"):
            reader.subject_data(subject_element)
    return list(reader.found.values())
