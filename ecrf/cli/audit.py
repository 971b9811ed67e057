"""``ecrf audit``: verify, replay and seal the audit trail, rotate its key.

Each command imports its implementation inside its function, the one place the
project allows it: ``ecrf --help`` and shell completion then start without importing the app.
"""

from __future__ import annotations

import getpass
import sys

import click
from flask.cli import AppGroup

from ecrf.cli.terminal import progress


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
    """Check every audit stream's keyed hash chain, sequence, checkpoints and projection, and the subject summaries."""
    from audit import PROJECTION, StreamProblem
    from ecrf.db import database
    from ecrf.integrity import verify_all
    from ecrf.records.summary import summary_problems
    from ecrf.trail import audit_store

    total = audit_store().count()
    with progress("verifying", total) as bar:
        problems = verify_all(progress=lambda n: bar.update(1))
    # The subject summaries are a cache derived from the record projections: a difference is a projection problem
    # (replay rebuilds them). One more read of the records' few reported fields and of the summaries.
    problems += [StreamProblem(f"summary/{key}", message, kind=PROJECTION)
                 for key, _, message in (text.partition(": ") for text in summary_problems(database().records))]
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
        with progress("replaying", audit_store().count()) as bar:
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
