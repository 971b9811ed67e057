"""``ecrf study``: check a study folder, load it, draft one from ODM metadata.

Each command imports its implementation inside its function, the one place the
project allows it: ``ecrf --help`` and shell completion then start without importing the app.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click
from flask.cli import AppGroup, ScriptInfo

from ecrf.cli.terminal import definition_faults, fail, progress
from ecrf.errors import DefinitionError, DomainError


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
    """Validate and load (or upgrade) a study definition; sites and casebooks stay on their version."""
    from ecrf.amendments import load_version

    try:
        study, created = load_version(path, actor="system")
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
@click.argument("first")
@click.argument("second")
@click.option("--study", "study_oid", default=None,
              help="the study whose loaded versions are named (default: the only one)")
@click.pass_context
def study_diff(ctx: click.Context, first: str, second: str, study_oid: str | None) -> None:
    """Compare two study folders or loaded versions: exit 0 when they say the same, 1 listing each difference,
    2 if one is broken or not loaded."""
    from ecrf.study_diff import diff_studies
    from ecrf.study_folder import read_study

    try:
        sides = [read_study(side) if Path(side).is_dir() else _loaded_version(ctx, study_oid, side)
                 for side in (first, second)]
    except DefinitionError as error:
        for line in error.faults.lines():
            click.echo(line, err=True)
        sys.exit(2)
    except DomainError as error:
        click.echo(f"error: {error.detail}", err=True)
        sys.exit(2)
    differences = diff_studies(*sides)
    for difference in differences:
        click.echo(str(difference))
    if differences:
        click.echo(f"{len(differences)} difference(s) between {first} and {second}", err=True)
        sys.exit(1)
    click.echo(f"{first} and {second}: no difference")


def _loaded_version(ctx: click.Context, study_oid: str | None, version: str):
    """A loaded version of the study as a study definition (the app's database, opened for it)."""
    from ecrf.study_versions import loaded_definition

    with ctx.ensure_object(ScriptInfo).load_app().app_context():
        return loaded_definition(_study_oid(study_oid), version)


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


@study_group.command("activate")
@click.argument("version")
@click.option("--study", "study_oid", default=None, help="study OID (default: the only loaded study)")
@click.option("--site", required=True, help="site code")
@click.option("--approved", required=True, help="the ethics approval date of the version at the site, YYYY-MM-DD")
@click.option("--as", "acting", default="admin", help="data manager recorded as the author")
def study_activate(version: str, study_oid: str | None, site: str, approved: str, acting: str) -> None:
    """Activate a loaded version at a site: new subjects there start on it (audited)."""
    from ecrf.roles import Action, require
    from ecrf.study_versions import activate
    from ecrf.users import get_user

    try:
        require(get_user(acting), Action.AMEND_STUDY)
        active = activate(_study_oid(study_oid), version, site, approved, actor=acting)
    except DomainError as error:
        fail(error)
    click.echo(f"study {active.study} version {active.version} active at site {active.site} "
               f"(ethics approval {active.approved})")


@study_group.command("migrate")
@click.option("--to", "to_version", required=True, help="the loaded version to move casebooks to")
@click.option("--study", "study_oid", default=None, help="study OID (default: the only loaded study)")
@click.option("--site", default=None, help="only subjects of this site")
@click.option("--subject", "subject_id", default=None, help="only this subject")
@click.option("--reason", default=None, help="the amendment's reason (required unless --dry-run)")
@click.option("--dry-run", is_flag=True, help="report what would change; write nothing")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="write the report (JSON) here")
@click.option("--as", "acting", default="admin", help="data manager recorded as the author")
def study_migrate(to_version: str, study_oid: str | None, site: str | None, subject_id: str | None,
                  reason: str | None, dry_run: bool, report_file: Path | None, acting: str) -> None:
    """Move casebooks to a version through the write path; report per subject and record. Idempotent."""
    import json

    from ecrf.amendments import migrate, subjects_to_migrate
    from ecrf.studies import study_runtime
    from ecrf.users import get_user

    try:
        runtime = study_runtime(_study_oid(study_oid))
        total = len(subjects_to_migrate(runtime.oid, site, subject_id))
        with progress(f"{'planning' if dry_run else 'migrating'} {runtime.oid}", total) as bar:
            report = migrate(runtime, get_user(acting), to_version, reason=reason or ("dry run" if dry_run else ""),
                             site=site, subject_id=subject_id, dry_run=dry_run, progress=bar.update)
    except DomainError as error:
        fail(error)
    for line in report.lines():
        click.echo(line)
    if report_file is not None:
        report_file.write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=1, default=str),
                               encoding="utf-8")
    summary = ", ".join(f"{n} {what}" for what, n in sorted(report.counts().items())) or "no subjects"
    click.echo(f"{'dry run: ' if dry_run else ''}{summary}")


def _study_oid(given: str | None) -> str:
    """The study named, else the only loaded one (a usage error when there are several)."""
    from ecrf.studies import loaded_studies

    if given:
        return given
    loaded = [study.oid for study in loaded_studies()]
    if len(loaded) != 1:
        raise click.UsageError(f"name the study with --study (loaded: {', '.join(loaded) or 'none'})")
    return loaded[0]
