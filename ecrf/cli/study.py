"""``ecrf study``: check a study folder, load it, draft one from ODM metadata.

Each command imports its implementation inside its function, the one place the
project allows it: ``ecrf --help`` and shell completion then start without importing the app.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click
from flask.cli import AppGroup

from ecrf.cli.terminal import definition_faults
from ecrf.errors import DefinitionError


@click.group("study", cls=AppGroup)
def study_group() -> None:
    """Check and load study definitions."""


@study_group.command("check", with_appcontext=False)
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def study_check(path: Path) -> None:
    """Validate a study folder; print `file: /pointer: message` per fault."""
    from ecrf.study_folder import read_study

    try:
        definition = read_study(path)
    except DefinitionError as error:
        definition_faults(error)
    click.echo(f"{path}: study {definition.oid} version {definition.version}: "
               f"{len(definition.forms)} forms, {len(definition.study['events'])} events: ok")


@study_group.command("load")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def study_load(path: Path) -> None:
    """Validate and load (or upgrade) a study definition."""
    from ecrf.studies import load_study

    try:
        study, created = load_study(path)
    except DefinitionError as error:
        definition_faults(error)
    verb = "loaded" if created else "already loaded; now current"
    click.echo(f"study {study.oid} version {study.version} {verb} ({study.definition_hash[:12]})")


@study_group.command("import-odm", with_appcontext=False)
@click.argument("odm_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="new folder for the draft study")
@click.option("--version", "mdv", help="MetaDataVersion OID to import (default: the first)")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="write the import report (JSON) here")
def study_import_odm(odm_file: Path, output: Path, mdv: str | None, report_file: Path | None) -> None:
    """Turn ODM 1.3 metadata into a draft study folder with an import report, then check it."""
    from ecrf.odm_import import ImportError_, write_draft

    try:
        _, report = write_draft(odm_file, output, mdv)
    except ImportError_ as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    _report_and_check(report, report_file, output, _schedule_advice)


def _schedule_advice(study: dict) -> str:
    """What the builder still has to add: days and windows, unless some event of the draft has a day already.

    A foreign ODM file says nothing of the schedule; the engine's own export carries it (its ``ecrf:`` aliases),
    where events without a day (screening, logs, unscheduled) are the design, not a gap.
    """
    return "" if any(event.get("day") is not None for event in study["events"]) else "add days and windows"


def _report_and_check(report, report_file: Path | None, output: Path,
                      advice: Callable[[dict], str] | None = None, notes: list[str] | tuple = ()) -> None:
    """An importer's ending: the report written and summed up, then the draft folder checked like any study.

    ``advice(study.json)`` says what the draft still lacks, if anything, after the summary line.
    """
    from ecrf.study_folder import read_study

    if report_file is not None:
        try:
            report.write(report_file)
        except OSError as error:
            click.echo(f"error: {report_file}: cannot write the report: {error.strerror or error}", err=True)
            sys.exit(1)
    for line in [*report.summary(), *notes]:
        click.echo(line)
    try:
        definition = read_study(output)
    except DefinitionError as error:
        click.echo(f"{output}: draft written, but it needs work:", err=True)
        definition_faults(error)
    needed = advice(definition.study) if advice is not None else ""
    click.echo(f"{output}: draft study {definition.oid} with {len(definition.forms)} forms and "
               f"{len(definition.study['events'])} events" + (f"; {needed}" if needed else ""))


@study_group.command("diff", with_appcontext=False)
@click.argument("first", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("second", type=click.Path(file_okay=False, exists=True, path_type=Path))
def study_diff(first: Path, second: Path) -> None:
    """Compare two study folders: exit 0 when they say the same, 1 listing each difference, 2 if one is broken."""
    from ecrf.study_diff import diff_folders

    try:
        differences = diff_folders(first, second)
    except DefinitionError as error:
        for line in error.faults.lines():
            click.echo(line, err=True)
        sys.exit(2)
    for difference in differences:
        click.echo(str(difference))
    if differences:
        click.echo(f"{len(differences)} difference(s) between {first} and {second}", err=True)
        sys.exit(1)
    click.echo(f"{first} and {second}: no difference")


@study_group.command("import-redcap", with_appcontext=False)
@click.argument("dictionary", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="new folder for the draft study")
@click.option("--events", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="REDCap's events CSV (longitudinal projects)")
@click.option("--mapping", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="REDCap's instrument-event mapping CSV")
@click.option("--repeating", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="REDCap's repeating instruments and events CSV")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="write the import report (JSON) here")
def study_import_redcap(dictionary: Path, output: Path, events: Path | None, mapping: Path | None,
                        repeating: Path | None, report_file: Path | None) -> None:
    """Turn a REDCap data dictionary into a draft study folder with an import report, then check it."""
    from ecrf.redcap import ImportError_, dictionary_to_study, write_study

    try:
        study, forms, report = dictionary_to_study(dictionary, events, mapping, repeating)
        write_study(output, study, forms)
    except ImportError_ as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    notes = [f"note: repeating instruments are {report.facts['repeating_instruments']}"] \
        if "repeating_instruments" in report.facts else []
    _report_and_check(report, report_file, output, notes=notes)
