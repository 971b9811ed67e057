"""Conditional items: the form language's restricted ``if`` as a CEL expression, and back.

A form makes items required — and shown — when an ``if`` holds (``allOf: [{if, then: {required}}]``). ODM
says the opposite: an ItemRef's ``CollectionExceptionConditionOID`` names a ConditionDef under which the item
is *not* collected. The export writes ``!(<the if as CEL>)``; :func:`to_condition` reads that canonical form
back, so a study's own export returns its conditions exactly. Any other expression is left to the importer's
general translation.
"""

from __future__ import annotations

import json
import re

COMPARATORS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
KEYWORDS = {v: k for k, v in COMPARATORS.items()}
_NAME = r"(data|row)\.([A-Z][A-Z0-9_]*)"
_HAS = re.compile(rf"has\({_NAME}\)")
_COMPARE = re.compile(rf"{_NAME} (==|in|>=|<=|>|<) ")
_DECODER = json.JSONDecoder()


class NotCanonical(ValueError):
    """The ``if`` or the expression is not of the shape this module writes."""


def _literal(value) -> str:
    if isinstance(value, bool) or isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return repr(float(value))  # data are doubles in CEL, which does not compare int with double
    raise NotCanonical(f"no CEL literal for {value!r}")


def to_cel(condition: dict, scope: str) -> str:
    """The CEL of a restricted ``if`` (``scope`` is ``data`` or ``row``); :class:`NotCanonical` for other shapes."""
    required, tests = condition.get("required", []), condition.get("properties", {})
    if set(condition) - {"required", "properties"} or not required or set(tests) - set(required):
        raise NotCanonical("only required items and tests on them")
    clauses = [f"has({scope}.{name})" for name in required]
    for name, test in tests.items():
        for key, value in test.items():
            if key == "const":
                clauses.append(f"{scope}.{name} == {_literal(value)}")
            elif key == "enum" and isinstance(value, list) and value:
                clauses.append(f"{scope}.{name} in [{', '.join(_literal(v) for v in value)}]")
            elif key in COMPARATORS and not isinstance(value, bool) and isinstance(value, (int, float)):
                clauses.append(f"{scope}.{name} {COMPARATORS[key]} {_literal(value)}")
            else:
                raise NotCanonical(f"test {key!r}")
    return " && ".join(clauses)


def _value(text: str, position: int):
    value, end = _DECODER.raw_decode(text, position)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value, end


def to_condition(cel: str) -> tuple[str, dict]:
    """``(scope, if)`` from the canonical CEL :func:`to_cel` writes; :class:`NotCanonical` otherwise."""
    position, scopes, condition = 0, set(), {"properties": {}, "required": []}
    try:
        while True:
            has, compare = _HAS.match(cel, position), _COMPARE.match(cel, position)
            if has:
                scopes.add(has.group(1))
                condition["required"].append(has.group(2))
                position = has.end()
            elif compare:
                scopes.add(compare.group(1))
                name, operator, position = compare.group(2), compare.group(3), compare.end()
                test = condition["properties"].setdefault(name, {})
                if operator == "in":
                    if cel[position:position + 1] != "[":
                        raise NotCanonical("a list")
                    values, position = [], position + 1
                    while True:
                        value, position = _value(cel, position)
                        values.append(value)
                        if cel.startswith(", ", position):
                            position += 2
                        elif cel.startswith("]", position):
                            position += 1
                            break
                        else:
                            raise NotCanonical("a list")
                    test["enum"] = values
                else:
                    value, position = _value(cel, position)
                    test["const" if operator == "==" else KEYWORDS[operator]] = value
            else:
                raise NotCanonical(f"unexpected {cel[position:position + 12]!r}")
            if position == len(cel):
                break
            if not cel.startswith(" && ", position):
                raise NotCanonical(f"unexpected {cel[position:position + 12]!r}")
            position += 4
    except json.JSONDecodeError as exc:
        raise NotCanonical(str(exc)) from None
    if len(scopes) != 1 or set(condition["properties"]) - set(condition["required"]):
        raise NotCanonical("one scope, tests on required items")
    if not condition["properties"]:
        del condition["properties"]
    return scopes.pop(), condition


def exception_cel(condition: dict, scope: str) -> str:
    """The ConditionDef expression: true when the items are *not* collected."""
    return f"!({to_cel(condition, scope)})"


def from_exception(cel: str) -> tuple[str, dict]:
    """``(scope, if)`` of a ConditionDef expression :func:`exception_cel` wrote."""
    cel = cel.strip()
    if not (cel.startswith("!(") and cel.endswith(")")):
        raise NotCanonical("not !(…)")
    return to_condition(cel[2:-1])
