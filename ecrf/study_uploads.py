"""A study folder uploaded as a zip: unpacked safely into a fresh folder, then read and checked.

Safe means: no member outside the folder (absolute paths, ``..``, drive letters), no links, only
JSON files, at most :data:`MAX_MEMBERS` of them and :data:`MAX_BYTES` unpacked in all (checked
while reading, not trusted from the zip's own header). A zip whose one top folder holds ``study.json``
is read from that folder.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path, PurePosixPath

from ecrf.errors import FieldError, Invalid
from ecrf.study_folder import StudyDefinition, read_study

MAX_MEMBERS = 500
MAX_BYTES = 20 * 1024 * 1024
MAX_ZIP_BYTES = 10 * 1024 * 1024


def _refuse(message: str) -> Invalid:
    return Invalid(f"the study zip is refused: {message}", [FieldError("/file", message)])


def unpack(content: bytes, folder: Path) -> Path:
    """Unpack the zip into ``folder`` (new) and return the study folder inside it; 422 on ``/file`` if unsafe."""
    if not content:
        raise _refuse("the file is empty")
    if len(content) > MAX_ZIP_BYTES:
        raise _refuse(f"larger than {MAX_ZIP_BYTES // (1024 * 1024)} MB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError):
        raise _refuse("not a zip file") from None
    if len(members) > MAX_MEMBERS:
        raise _refuse(f"more than {MAX_MEMBERS} files")
    folder.mkdir(parents=True)
    written = 0
    for member in members:
        path = _member_path(member)
        if path is None:
            continue
        target = folder.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(member) as source, open(target, "wb") as out:
            while chunk := source.read(65536):
                written += len(chunk)
                if written > MAX_BYTES:
                    raise _refuse(f"more than {MAX_BYTES // (1024 * 1024)} MB unpacked")
                out.write(chunk)
    return _study_root(folder)


def _member_path(member: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path (None for a folder entry); refuses what could land outside or is no JSON."""
    name = member.filename.replace("\\", "/")
    if member.is_dir():
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or ":" in path.parts[0] or not path.parts:
        raise _refuse(f"{name!r} would land outside the study folder")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise _refuse(f"{name!r} is a link")
    if path.suffix != ".json":
        raise _refuse(f"{name!r} is not a JSON file")
    return path


def _study_root(folder: Path) -> Path:
    if (folder / "study.json").is_file():
        return folder
    inside = [entry for entry in folder.iterdir() if entry.is_dir()]
    if len(inside) == 1 and (inside[0] / "study.json").is_file():
        return inside[0]
    raise _refuse("no study.json at the top of the zip or of its one folder")


def read_upload(content: bytes, folder: Path) -> StudyDefinition:
    """Unpack and read the study (:class:`~ecrf.errors.DefinitionError` listing each fault, as ``study check``)."""
    return read_study(unpack(content, folder))
