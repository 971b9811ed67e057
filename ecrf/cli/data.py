"""Commands over the study data: ``ecrf checks``, ``ecrf ranges``, ``ecrf export`` and ``ecrf lock``.

Each command imports its implementation inside its function, the one place the
project allows it: ``ecrf --help`` and shell completion then start without importing the app.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from ecrf.cli.terminal import fail, progress
from ecrf.errors import DomainError

# ------------------------------------------------------------------ checks and ranges


@click.group("checks", cls=AppGroup)
def checks_group() -> None:
    """Edit checks."""


@checks_group.command("run")
@click.option("--study", "study_oid", default=None, help="study OID (default: every loaded study)")
@click.option("--form", "form_oid", default=None, help="only records of this form")
def checks_run(study_oid: str | None, form_oid: str | None) -> None:
    """Re-run derivations and edit checks over existing data; opens and closes queries. Idempotent."""
    from ecrf.records.document import Record
    from ecrf.records.recheck import recheck_all
    from ecrf.studies import loaded_studies, study_runtime

    try:
        studies = [study_runtime(study_oid)] if study_oid else [study_runtime(s.oid) for s in loaded_studies()]
    except DomainError as error:
        fail(error)
    for runtime in studies:
        total = Record.objects(study=runtime.oid, **({"form": form_oid} if form_oid else {})).count()
        with progress(f"checking {runtime.oid}", total) as bar:
            counts = recheck_all(runtime, form_oid, progress=bar.update)
        summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "no records"
        click.echo(f"{runtime.oid}: {summary}")


@click.group("ranges", cls=AppGroup)
def ranges_group() -> None:
    """Site laboratory reference ranges."""


@ranges_group.command("add")
@click.option("--site", required=True)
@click.option("--analyte", required=True, help="analyte code, e.g. ALT")
@click.option("--unit", required=True)
@click.option("--low", type=float, default=None)
@click.option("--high", type=float, default=None)
@click.option("--sex", type=click.Choice(["M", "F"]), default=None)
@click.option("--age-min", type=int, default=None)
@click.option("--age-max", type=int, default=None)
@click.option("--valid-from", required=True, help="YYYY-MM-DD: applies to samples from this date")
@click.option("--as", "acting", default="admin", help="data manager recorded as the author")
def ranges_add(site, analyte, unit, low, high, sex, age_min, age_max, valid_from, acting) -> None:
    """Add a site reference range (audited)."""
    from ecrf.ranges import add_range
    from ecrf.users import get_user

    try:
        entry = add_range(get_user(acting), site, analyte, unit, low, high, valid_from=valid_from,
                          sex=sex, age_min=age_min, age_max=age_max)
    except DomainError as error:
        fail(error)
    click.echo(f"range {entry.range_id} added: {site} {analyte} {low}-{high} {unit} from {valid_from}")


@ranges_group.command("list")
@click.option("--site", default=None)
def ranges_list(site: str | None) -> None:
    """List site reference ranges."""
    from ecrf.ranges import list_ranges

    for entry in list_ranges(site):
        flag = " (retired)" if entry.retired_at else ""
        click.echo(f"{entry.range_id} {entry.site} {entry.analyte} {entry.sex or '*'} "
                   f"{entry.low}-{entry.high} {entry.unit} from {entry.valid_from}{flag}")


# ------------------------------------------------------------------ export


@click.command("export")
@click.argument("kind", type=click.Choice(["odm", "csv", "xlsx"]))
@click.option("--study", "study_oid", default=None, help="study OID (default: the only loaded study)")
@click.option("--subject", default=None)
@click.option("--site", default=None)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export(kind: str, study_oid: str | None, subject: str | None, site: str | None, output: Path) -> None:
    """Export ODM 1.3.2 (with audit trail, queries, signatures), a CSV zip or an Excel workbook."""
    from ecrf.exports import export_subjects, write_export
    from ecrf.studies import loaded_studies, study_runtime

    try:
        if study_oid is None:
            studies = loaded_studies()
            if len(studies) != 1:
                raise DomainError("name the study with --study")
            study_oid = studies[0].oid
        runtime = study_runtime(study_oid)
    except DomainError as error:
        fail(error)
    subjects = export_subjects(runtime, site=site, subject=subject)
    total = subjects.count() if kind == "odm" else len(runtime.forms)
    partial = output.with_name(output.name + ".part")
    try:
        with open(partial, "wb") as out, progress(f"exporting {kind}", total) as bar:
            write_export(kind, out, runtime, subjects, progress=bar.update)
    except BaseException:
        partial.unlink(missing_ok=True)  # a half-written file must never be mistaken for an export
        raise
    partial.replace(output)
    click.echo(f"{output}: {output.stat().st_size} bytes")


# ------------------------------------------------------------------ lock


OBSTACLES_SHOWN = 20  # obstacles listed one by one when a lock or freeze is refused for them
OVERRIDE_HELP = "lock or freeze despite open queries, empty items, unverified or unsigned forms (kept in the trail)"


@click.group("lock", cls=AppGroup)
def lock_group() -> None:
    """Lock, unlock, freeze or unfreeze a study or a subject in bulk."""


def _bulk_lock(
    study_oid: str, subject: str | None, unlock: bool, freeze: bool, reason: str | None, acting: str,
    override_reason: str | None = None,
) -> None:
    from ecrf.readiness import NotReady, lock_checked
    from ecrf.records.document import Record
    from ecrf.studies import study_runtime
    from ecrf.users import get_user

    try:
        runtime = study_runtime(study_oid)
        user = get_user(acting)
        total = Record.objects(study=runtime.oid, **({"subject": subject} if subject else {})).count()
        verb = ("unfreeze" if unlock else "freeze") if freeze else ("unlock" if unlock else "lock")
        with progress(f"{verb} {subject or runtime.oid}", total) as bar:
            changed = lock_checked(
                runtime,
                user,
                "frozen" if freeze else "locked",
                not unlock,
                subject_id=subject,
                reason=reason,
                override_reason=override_reason,
                progress=bar.update,
            )
    except NotReady as error:
        # What stands against it, one line each, before the refusal: the person decides whether to override.
        for obstacle in error.obstacles[:OBSTACLES_SHOWN]:
            item = f" {obstacle.item} ({obstacle.label})" if obstacle.item else ""
            click.echo(f"  {obstacle.kind}: {obstacle.subject} {obstacle.event} {obstacle.form}{item}", err=True)
        if len(error.obstacles) > OBSTACLES_SHOWN:
            click.echo(f"  ... and {len(error.obstacles) - OBSTACLES_SHOWN} more", err=True)
        fail(error)
    except DomainError as error:
        fail(error)
    past = {"lock": "locked", "unlock": "unlocked", "freeze": "frozen", "unfreeze": "unfrozen"}[verb]
    click.echo(f"{changed} record(s) {past}")


@lock_group.command("study")
@click.argument("study_oid")
@click.option("--unlock", is_flag=True, help="unlock (or unfreeze with --freeze) instead")
@click.option("--freeze", is_flag=True, help="freeze instead of lock")
@click.option("--reason", default=None, help="required to unlock")
@click.option("--override-reason", default=None, help=OVERRIDE_HELP)
@click.option("--as", "acting", required=True, help="the data manager acting")
def lock_study(study_oid, unlock, freeze, reason, override_reason, acting) -> None:
    """Lock (or unlock, freeze) the whole study: the database lock."""
    _bulk_lock(study_oid, None, unlock, freeze, reason, acting, override_reason)


@lock_group.command("subject")
@click.argument("study_oid")
@click.argument("subject")
@click.option("--unlock", is_flag=True)
@click.option("--freeze", is_flag=True)
@click.option("--reason", default=None)
@click.option("--override-reason", default=None, help=OVERRIDE_HELP)
@click.option("--as", "acting", required=True)
def lock_subject(study_oid, subject, unlock, freeze, reason, override_reason, acting) -> None:
    """Lock (or unlock, freeze) one subject's casebook."""
    _bulk_lock(study_oid, subject, unlock, freeze, reason, acting, override_reason)
