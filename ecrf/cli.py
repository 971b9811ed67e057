"""The ``ecrf`` command line (a Flask CLI group), as API.md describes it."""

from __future__ import annotations

import getpass
import logging
import os
import signal
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from ecrf.data_import.commands import import_group
from ecrf.errors import DefinitionError, DomainError


def _create_app(*_args) -> Flask:
    from ecrf import create_app

    return create_app()


def _fail(error: DomainError) -> None:
    click.echo(f"error: {error.detail}", err=True)
    for item in error.errors:
        click.echo(f"  {item.path}: {item.message}", err=True)
    sys.exit(1)


def _definition_faults(error: DefinitionError) -> None:
    for line in error.faults.lines():
        click.echo(line, err=True)
    sys.exit(1)


def _progress(label: str, total: int):
    bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr, show_pos=True)
    return bar


# ------------------------------------------------------------------ study


@click.group("study", cls=AppGroup)
def study_group() -> None:
    """Check and load study definitions."""


@study_group.command("check", with_appcontext=False)
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def study_check(path: Path) -> None:
    """Validate a study folder; print `file: /pointer: message` per fault."""
    from ecrf.definitions import read_study

    try:
        definition = read_study(path)
    except DefinitionError as error:
        _definition_faults(error)
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
        _definition_faults(error)
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
    from ecrf.definitions import read_study
    from ecrf.odm_import import ImportError_, write_draft

    try:
        _, report = write_draft(odm_file, output, mdv)
    except ImportError_ as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    if report_file is not None:
        try:
            report.write(report_file)
        except OSError as error:
            click.echo(f"error: {report_file}: cannot write the report: {error.strerror or error}", err=True)
            sys.exit(1)
    for line in report.summary():
        click.echo(line)
    try:
        definition = read_study(output)
    except DefinitionError as error:
        click.echo(f"{output}: draft written, but it needs work:", err=True)
        _definition_faults(error)
    click.echo(f"{output}: draft study {definition.oid} with {len(definition.forms)} forms and "
               f"{len(definition.study['events'])} events; add days and windows")


# ------------------------------------------------------------------ users and sites


@click.group("users", cls=AppGroup)
def users_group() -> None:
    """Manage users."""


@users_group.command("add")
@click.argument("username")
@click.option("--role", required=True, help="site_staff, investigator, monitor, data_manager or admin")
@click.option("--site", "sites", multiple=True, help="site code (repeat for several)")
@click.option("--name", "full_name", default="", help="printed name (shown on signatures)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def users_add(username: str, role: str, sites: tuple[str, ...], full_name: str, password_stdin: bool) -> None:
    """Create a user."""
    from ecrf.users import add_user

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    settings = current_app.config["ECRF"]
    try:
        add_user(username, role, list(sites), password, full_name=full_name, actor="cli",
                 min_password_length=settings.password_min_length)
    except DomainError as error:
        _fail(error)
    click.echo(f"user {username} ({role}) created")


@users_group.command("token")
@click.argument("username")
def users_token(username: str) -> None:
    """Print a new API token for the user (shown once)."""
    from ecrf.users import issue_token

    try:
        click.echo(issue_token(username, actor="cli"))
    except DomainError as error:
        _fail(error)


@users_group.command("revoke-tokens")
@click.argument("username")
def users_revoke(username: str) -> None:
    """Revoke every API token of the user."""
    from ecrf.users import get_user, revoke_tokens

    try:
        get_user(username)
    except DomainError as error:
        _fail(error)
    click.echo(f"{revoke_tokens(username, actor='cli')} token(s) revoked")


@users_group.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable a user (never deleted); revokes their tokens."""
    from ecrf.users import set_active

    try:
        set_active(username, False, actor="cli")
    except DomainError as error:
        _fail(error)
    click.echo(f"user {username} disabled")


@users_group.command("enable")
@click.argument("username")
def users_enable(username: str) -> None:
    """Re-enable a disabled user."""
    from ecrf.users import set_active

    try:
        set_active(username, True, actor="cli")
    except DomainError as error:
        _fail(error)
    click.echo(f"user {username} enabled")


@users_group.command("password")
@click.argument("username")
def users_password(username: str) -> None:
    """Set a user's password from standard input (policy and history apply)."""
    from ecrf.users import change_password, get_user

    settings = current_app.config["ECRF"]
    try:
        change_password(get_user(username), None, sys.stdin.readline().rstrip("\n"), actor="cli",
                        min_length=settings.password_min_length, history=settings.password_history)
    except DomainError as error:
        _fail(error)
    click.echo(f"password of {username} changed")


@click.group("sites", cls=AppGroup)
def sites_group() -> None:
    """Manage sites."""


@sites_group.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--timezone", default="UTC", help="IANA time zone, e.g. Asia/Shanghai")
def sites_add(code: str, name: str, timezone: str) -> None:
    """Create a site."""
    from ecrf.sites import add_site

    try:
        add_site(code, name, timezone, actor="cli")
    except DomainError as error:
        _fail(error)
    click.echo(f"site {code} created")


# ------------------------------------------------------------------ audit


@click.group("audit", cls=AppGroup)
def audit_group() -> None:
    """Verify and replay the audit trail."""


# How verify labels each kind of problem, and what it tells the reader.
_VERIFY_LABELS = {
    "broken": ("BROKEN", "chain broken (loss or tampering)"),
    "projection": ("DIFFERS", "a projection differs from its intact stream: edited outside the application "
                              "(ecrf audit replay restores record projections)"),
    "behind": ("BEHIND", "projection behind its stream (repairable, nothing lost: ecrf audit replay)"),
    "unsealed": ("UNSEALED", "plain SHA-256 chain, not sealed yet (ecrf audit seal)"),
}


@audit_group.command("verify")
def audit_verify() -> None:
    """Check every audit stream's keyed hash chain, sequence, checkpoints and projection."""
    from ecrf.integrity import verify_all
    from ecrf.trail import audit_store

    total = audit_store().count()
    with _progress("verifying", total) as bar:
        problems = verify_all(progress=lambda n: bar.update(1))
    for problem in problems:
        click.echo(f"{_VERIFY_LABELS[problem.kind][0]} {problem}")
    for kind, (label, meaning) in _VERIFY_LABELS.items():
        streams = {p.stream for p in problems if p.kind == kind}
        if streams:
            click.echo(f"{len(streams)} stream(s) {label}: {meaning}", err=True)
    if any(p.kind != "unsealed" for p in problems):
        click.echo(f"{len({p.stream for p in problems if p.kind != 'unsealed'})} stream(s) do not hold", err=True)
        sys.exit(1)
    click.echo(f"all streams hold ({total} events)")


@audit_group.command("replay")
def audit_replay() -> None:
    """Rebuild every record projection from its audit stream; refuse streams whose chain or checkpoint breaks."""
    from ecrf.integrity import ReplayRefused, replay_all
    from ecrf.trail import audit_store

    try:
        with _progress("replaying", audit_store().count()) as bar:
            count = replay_all(progress=lambda n: bar.update(1))
    except ReplayRefused as refused:
        for problem in refused.problems:
            click.echo(f"REFUSED {problem}")
        click.echo(f"{refused.rebuilt} record(s) rebuilt from the audit trail; "
                   f"{len({p.stream for p in refused.problems})} stream(s) refused: their chain or checkpoint does "
                   "not verify (loss or tampering), left as they are", err=True)
        sys.exit(1)
    click.echo(f"{count} record(s) rebuilt from the audit trail")


def _os_user() -> str:
    return f"os:{getpass.getuser()}"


@audit_group.command("seal")
@click.option("--as", "actor", default=None, help="who seals (default: the OS user, as os:NAME)")
def audit_seal(actor: str | None) -> None:
    """Verify the plain SHA-256 chains of an existing database, then checkpoint them under the audit key."""
    from ecrf.sealing import SealRefused, seal_database
    from ecrf.trail import checkpoint_path

    try:
        sealed = seal_database(actor or _os_user())
    except SealRefused as refused:
        for problem in refused.problems:
            click.echo(f"BROKEN {problem}")
        click.echo(f"not sealed: {len({p.stream for p in refused.problems})} stream(s) do not verify "
                   "(loss or tampering); nothing was written", err=True)
        sys.exit(1)
    if not sealed.written:
        click.echo(f"already sealed: {sealed.streams} stream(s), {sealed.events} event(s); nothing written")
        return
    click.echo(f"sealed: {sealed.streams} stream(s), {sealed.events} event(s) ({sealed.unsealed} with plain "
               f"SHA-256 chains) checkpointed in {checkpoint_path()}")


@audit_group.command("rotate-key")
@click.option("--as", "actor", default=None, help="who rotates (default: the OS user, as os:NAME)")
def audit_rotate_key(actor: str | None) -> None:
    """Sign new events with a new audit key; old keys stay in the key file to verify what they signed."""
    from ecrf.sealing import rotate_key

    try:
        old, new = rotate_key(actor or _os_user())
    except ValueError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    click.echo(f"audit key {new} signs new events ({old} kept to verify older ones); "
               "restart serving processes so they sign with it, and back up the key file again")


# ------------------------------------------------------------------ checks and ranges


@click.group("checks", cls=AppGroup)
def checks_group() -> None:
    """Edit checks."""


@checks_group.command("run")
@click.option("--study", "study_oid", default=None, help="study OID (default: every loaded study)")
@click.option("--form", "form_oid", default=None, help="only records of this form")
def checks_run(study_oid: str | None, form_oid: str | None) -> None:
    """Re-run derivations and edit checks over existing data; opens and closes queries. Idempotent."""
    from ecrf.records import Record, recheck_all
    from ecrf.studies import loaded_studies, study_runtime

    try:
        studies = [study_runtime(study_oid)] if study_oid else [study_runtime(s.oid) for s in loaded_studies()]
    except DomainError as error:
        _fail(error)
    for runtime in studies:
        total = Record.objects(study=runtime.oid, **({"form": form_oid} if form_oid else {})).count()
        with _progress(f"checking {runtime.oid}", total) as bar:
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
        _fail(error)
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
        _fail(error)
    subjects = export_subjects(runtime, site=site, subject=subject)
    total = subjects.count() if kind == "odm" else len(runtime.forms)
    partial = output.with_name(output.name + ".part")
    try:
        with open(partial, "wb") as out, _progress(f"exporting {kind}", total) as bar:
            write_export(kind, out, runtime, subjects, progress=bar.update)
    except BaseException:
        partial.unlink(missing_ok=True)  # a half-written file must never be mistaken for an export
        raise
    partial.replace(output)
    click.echo(f"{output}: {output.stat().st_size} bytes")


# ------------------------------------------------------------------ lock


@click.group("lock", cls=AppGroup)
def lock_group() -> None:
    """Lock, unlock, freeze or unfreeze a study or a subject in bulk."""


def _bulk_lock(study_oid: str, subject: str | None, unlock: bool, freeze: bool, reason: str | None, acting: str) -> None:
    from ecrf.lifecycle import set_lock
    from ecrf.records import Record
    from ecrf.studies import study_runtime
    from ecrf.users import get_user

    try:
        runtime = study_runtime(study_oid)
        user = get_user(acting)
        total = Record.objects(study=runtime.oid, **({"subject": subject} if subject else {})).count()
        verb = ("unfreeze" if unlock else "freeze") if freeze else ("unlock" if unlock else "lock")
        with _progress(f"{verb} {subject or runtime.oid}", total) as bar:
            changed = set_lock(runtime, user, "frozen" if freeze else "locked", not unlock, subject_id=subject,
                               reason=reason, progress=bar.update)
    except DomainError as error:
        _fail(error)
    past = {"lock": "locked", "unlock": "unlocked", "freeze": "frozen", "unfreeze": "unfrozen"}[verb]
    click.echo(f"{changed} record(s) {past}")


@lock_group.command("study")
@click.argument("study_oid")
@click.option("--unlock", is_flag=True, help="unlock (or unfreeze with --freeze) instead")
@click.option("--freeze", is_flag=True, help="freeze instead of lock")
@click.option("--reason", default=None, help="required to unlock")
@click.option("--as", "acting", required=True, help="the data manager acting")
def lock_study(study_oid, unlock, freeze, reason, acting) -> None:
    """Lock (or unlock, freeze) the whole study: the database lock."""
    _bulk_lock(study_oid, None, unlock, freeze, reason, acting)


@lock_group.command("subject")
@click.argument("study_oid")
@click.argument("subject")
@click.option("--unlock", is_flag=True)
@click.option("--freeze", is_flag=True)
@click.option("--reason", default=None)
@click.option("--as", "acting", required=True)
def lock_subject(study_oid, subject, unlock, freeze, reason, acting) -> None:
    """Lock (or unlock, freeze) one subject's casebook."""
    _bulk_lock(study_oid, subject, unlock, freeze, reason, acting)


# ------------------------------------------------------------------ serve


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve(host: str, port: int) -> None:
    """Run the web app under gunicorn; starts (and watches) the embedded database when no ECRF_MONGODB_URI is set.

    Stops within seconds of SIGINT or SIGTERM, the embedded database with it. Exits 2 when
    ECRF_ADMIN_PASSWORD is refused.
    """
    from ecrf import db
    from ecrf.catchup import catch_up
    from ecrf.serving import serve as run_gunicorn
    from ecrf.setup import ensure_admin, ensure_study
    from ecrf.trail import flush_checkpoints

    # Until gunicorn takes the signals over: stop on either, even if SIGINT was inherited as ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    settings = current_app.config["ECRF"]
    try:
        password = ensure_admin(settings.admin_password or None)
    except DomainError as error:
        reasons = "; ".join(item.message for item in error.errors) or error.detail
        click.echo(f"error: ECRF_ADMIN_PASSWORD refused: {reasons}", err=True)
        sys.exit(2)
    if ensure_study(settings.study_path):
        click.echo(f"loaded the bundled study from {settings.study_path}")
    caught = catch_up()
    if caught:
        click.echo(f"brought {len(caught)} record(s) forward to their audit trail")
    uri = db.database_uri(settings)
    click.echo(f"eCRF running at http://{host}:{port}/")
    if password:
        click.echo(f"admin user: admin  password: {password}  (shown once; change it after login)")
    elif settings.admin_password and not password:
        click.echo("admin user: admin  password: from ECRF_ADMIN_PASSWORD")
    click.echo("Press Ctrl-C to stop (the embedded database stops with it).")
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    flush_checkpoints()  # what start-up appended (admin, study, catch-up): this process ends by os._exit
    db.disconnect()  # no database client crosses the fork into the workers
    code = 0
    try:
        run_gunicorn(settings, uri, host, port, db.embedded_server())
    except SystemExit as stopped:
        code = stopped.code if isinstance(stopped.code, int) else (0 if stopped.code is None else 1)
    finally:
        db.stop_embedded()
    # Workers and database have stopped and nothing is left to write: skip the interpreter's teardown of
    # the loaded app, which alone costs seconds on a busy machine, so a stop fits in 10 s.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def register_commands(app: Flask) -> None:
    """Attach the command groups to the app's CLI."""
    for command in (study_group, users_group, sites_group, audit_group, checks_group, ranges_group, lock_group, export,
                    import_group, serve):
        app.cli.add_command(command)


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
def main() -> None:
    """eCRF engine command line."""
