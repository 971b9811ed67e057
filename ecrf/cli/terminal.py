"""What every command writes to the terminal: a domain error and its fields, definition faults, a progress bar."""

from __future__ import annotations

import sys

import click

from ecrf.errors import DefinitionError, DomainError


def fail(error: DomainError) -> None:
    """Print the error and each field it names to standard error, then exit 1."""
    click.echo(f"error: {error.detail}", err=True)
    for item in error.errors:
        click.echo(f"  {item.path}: {item.message}", err=True)
    sys.exit(1)


def definition_faults(error: DefinitionError) -> None:
    """Print each fault of a study definition as ``file: /pointer: message`` to standard error, then exit 1."""
    for line in error.faults.lines():
        click.echo(line, err=True)
    sys.exit(1)


def progress(label: str, total: int):
    """A progress bar on standard error counting to ``total`` (standard output keeps only the result)."""
    bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr, show_pos=True)
    return bar
