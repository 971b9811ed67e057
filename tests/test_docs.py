"""The contract pages cannot fall behind the code: every API route and every CLI command is written down."""

import re
from pathlib import Path

import click

DOCS = Path(__file__).resolve().parent.parent / "docs"
IGNORED_METHODS = {"HEAD", "OPTIONS"}
CONVERTER = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def _as_template(rule: str) -> str:
    """A Flask rule written as OpenAPI and docs/api.md write paths: ``<int:query_id>`` becomes ``{query_id}``."""
    return CONVERTER.sub(r"{\1}", rule)


def _api_routes(app) -> list[str]:
    """``"METHOD /api/v1/path/{param}"`` for each method of each rule under ``/api/``."""
    return sorted(f"{method} {_as_template(rule.rule)}"
                  for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
                  for method in rule.methods - IGNORED_METHODS)


def _cli_commands(group: click.Group, prefix: str = "ecrf") -> list[str]:
    """``"ecrf group command"`` for every leaf command under ``group``."""
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _cli_commands(command, f"{prefix} {name}")
        else:
            found.append(f"{prefix} {name}")
    return found


def test_every_api_route_is_in_the_http_contract_page(app):
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    routes = _api_routes(app)
    assert len(routes) > 30  # the whole API, not an empty map
    assert [route for route in routes if f"`{route}`" not in page] == []


def test_every_cli_command_is_in_the_command_line_page(app):
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    commands = _cli_commands(app.cli)
    assert "ecrf audit verify" in commands
    assert [command for command in commands if f"`{command}" not in page] == []


def test_a_route_converter_is_written_as_a_path_parameter():
    written = _as_template("/api/v1/studies/<study>/queries/<int:query_id>")
    assert written == "/api/v1/studies/{study}/queries/{query_id}"
