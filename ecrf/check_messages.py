"""Check messages that name their rule's constants: ``{tolerance}`` filled from the study's parameters.

A check declares ``"constants": {"tolerance": "ld_dose_tolerance"}`` and its message, in every
language, says ``{tolerance:.0%}``: the text follows the parameter, so an amendment that changes
10% to 5% changes what every query says. Pure: no database.
"""

from __future__ import annotations

import string
from typing import Any

_FORMATTER = string.Formatter()


def placeholders(text: str) -> list[str]:
    """The names the text's ``{...}`` fields use (``ValueError`` when the braces do not parse)."""
    return [name for _, name, _, _ in _FORMATTER.parse(text) if name is not None]


def message_faults(message: dict, constants: dict, parameters: dict) -> list[tuple[str, str]]:
    """``(pointer under the check, fault)`` for each placeholder or constant that cannot be filled."""
    faults = []
    for name, parameter in constants.items():
        if parameter not in parameters:
            faults.append((f"/constants/{name}", f"no study parameter {parameter!r}"))
    for lang, text in message.items():
        try:
            names = placeholders(text)
        except ValueError as error:
            faults.append((f"/message/{lang}", f"unbalanced braces: {error}"))
            continue
        for name in names:
            if name not in constants:
                faults.append((f"/message/{lang}", f"{{{name}}} is not one of the check's constants"))
                continue
            try:
                render({lang: text}, constants, parameters)
            except (ValueError, TypeError, KeyError) as error:
                faults.append((f"/message/{lang}", f"{{{name}}} cannot show {parameters.get(constants[name])!r}: "
                                                   f"{error}"))
    return faults


def render(message: dict, constants: dict, parameters: dict) -> dict:
    """The message in each language with its constants' values in place (unchanged without constants)."""
    if not constants:
        return message
    values: dict[str, Any] = {name: parameters.get(parameter) for name, parameter in constants.items()}
    return {lang: text.format_map(values) for lang, text in message.items()}
