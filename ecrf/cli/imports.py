"""``ecrf import odm|csv``: clinical data files through the write path, with a progress bar and a summary.

Exit status: 0 when every row was imported (or would be, dry), 2 when some rows were refused
(the rest imported; the reasons in ``--errors``), 1 when the file could not be read or
``--all-or-nothing`` stopped the import (nothing written).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from ecrf.errors import DomainError

SHOWN_REFUSALS = 20
SHOWN_ROWS = 200  # a dry run lists the rows it would write, up to this many


@click.group("import", cls=AppGroup)
def import_group() -> None:
    """Import clinical data (ODM ClinicalData, central-lab CSV files); data managers only."""


def _common(command):
    for option in reversed([
        click.option("--study", "study_oid", required=True, help="study OID"),
        click.option("--as", "acting", required=True, help="the data manager importing"),
        click.option("--dry-run", is_flag=True, help="report what would be created, changed and refused"),
        click.option("--errors", "errors_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="write the refused rows and their reasons here (CSV)"),
        click.option("--all-or-nothing", is_flag=True, help="write nothing if any row is refused"),
    ]):
        command = option(command)
    return command


def _fail(error: DomainError) -> None:
    click.echo(f"error: {error.detail}", err=True)
    for item in error.errors:
        click.echo(f"  {item.path}: {item.message}", err=True)
    sys.exit(1)


def _import(study_oid: str, acting: str, file: Path, read, dry_run: bool, errors_file: Path | None,
            all_or_nothing: bool) -> None:
    from ecrf.data_import.batch import run_batch, write_refusals
    from ecrf.data_import.catalogue import Catalogue
    from ecrf.roles import Action, require
    from ecrf.studies import study_runtime
    from ecrf.users import get_user

    try:
        study = study_runtime(study_oid)
        user = get_user(acting)
        require(user, Action.IMPORT_DATA)
        submissions = read(Catalogue(study, casebooks=True))
        total = len(submissions) * (1 if dry_run else 2)
        with click.progressbar(length=max(total, 1), label=f"importing {file.name}", file=sys.stderr,
                               show_pos=True) as bar:
            summary = run_batch(study, user, submissions, file.name, dry_run=dry_run,
                                all_or_nothing=all_or_nothing, progress=bar.update)
    except DomainError as error:
        _fail(error)
    if errors_file is not None:
        with open(errors_file, "w", encoding="utf-8", newline="") as out:
            write_refusals(out, summary.refusals)
    if dry_run:
        planned = [row for row in summary.rows if row["outcome"] in ("created", "updated")]
        for row in planned[:SHOWN_ROWS]:
            new = " (new subject)" if row["registers"] else ""
            click.echo(f"{file.name}:{row['line']}: {row['subject']}{new} {row['event']}/{row['form']} "
                       f"would be {row['outcome']}")
        if len(planned) > SHOWN_ROWS:
            click.echo(f"... and {len(planned) - SHOWN_ROWS} more")
    for refusal in summary.refusals[:SHOWN_REFUSALS]:
        label = f" ({refusal.label})" if refusal.label else ""
        click.echo(f"{file.name}:{refusal.line}: {refusal.subject} {refusal.event or '-'}/{refusal.form or '-'} "
                   f"{refusal.item}{label}: {refusal.reason}", err=True)
    if len(summary.refusals) > SHOWN_REFUSALS:
        click.echo(f"... and {len(summary.refusals) - SHOWN_REFUSALS} more", err=True)
    stopped = all_or_nothing and summary.refused and not dry_run
    click.echo(f"{file.name}: {summary.line()}" + ("; nothing written (--all-or-nothing)" if stopped else ""))
    if stopped:
        sys.exit(1)
    if summary.refused:
        sys.exit(2)


@import_group.command("odm")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@_common
def import_odm(file: Path, study_oid: str, acting: str, dry_run: bool, errors_file: Path | None,
               all_or_nothing: bool) -> None:
    """Import the ClinicalData of an ODM 1.3.x file (snapshot or transactional), matched by our or source OIDs."""
    from ecrf.data_import.odm_file import read_clinical_data

    _import(study_oid, acting, file, lambda catalogue: read_clinical_data(file, catalogue),
            dry_run, errors_file, all_or_nothing)


@import_group.command("csv")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--form", "form_oid", required=True, help="the form every row fills")
@click.option("--event", "event_oid", default=None, help="the visit of every row")
@click.option("--event-column", default=None, help="the column naming each row's visit")
@click.option("--subject-column", default=None, help="the column of subject ids (default: subject)")
@click.option("--site-column", default=None, help="the column of new subjects' sites (default: site)")
@click.option("--map", "map_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="YAML or JSON column map: renames, unit factors, event values")
@_common
def import_csv(file: Path, form_oid: str, event_oid: str | None, event_column: str | None,
               subject_column: str | None, site_column: str | None, map_file: Path | None, study_oid: str,
               acting: str, dry_run: bool, errors_file: Path | None, all_or_nothing: bool) -> None:
    """Import a central lab's CSV file: one row per subject and visit, columns matched to the form's items."""
    from ecrf.data_import.csv_file import Options, read_table
    from ecrf.data_import.mapping import read_map

    if (event_oid is None) == (event_column is None):
        raise click.UsageError("give exactly one of --event and --event-column")
    options = Options(form_oid, event_oid, event_column, subject_column, site_column)
    try:
        column_map = read_map(map_file)
    except DomainError as error:
        _fail(error)
    _import(study_oid, acting, file, lambda catalogue: read_table(file, catalogue, options, column_map),
            dry_run, errors_file, all_or_nothing)
