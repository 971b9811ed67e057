"""Simple REDCap branching logic → a JSON Schema ``if`` the engine and the browser both evaluate.

Only a conjunction of tests on fields of the same form has a JSON Schema
form (``const``, ``enum``, bounds, ``contains`` for one box of a checkbox);
for anything else :func:`condition` says None and the caller keeps the CEL
translation of :mod:`ecrf.odm_import.redcap_logic`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ecrf.odm_import.redcap_logic import Node, Resolver, parse
from ecrf.odm_import.translate import Untranslatable

SCHEMA_BOUND = {">": "exclusiveMinimum", ">=": "minimum", "<": "exclusiveMaximum", "<=": "maximum"}


def _typed(value: str, kind: str):
    """The literal as a JSON value of the field's kind, or None when it does not fit."""
    if kind == "boolean":
        return {"1": True, "0": False}.get(value.strip())
    if kind in ("integer", "number"):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return int(number) if number == number.to_integral_value() else float(number)
    return value


def condition(source: str, resolve: Resolver) -> dict | None:
    """A JSON Schema ``if`` for branching logic that is a conjunction of simple tests on this form's fields.

    ``[a] = '1' and [b] >= 18``, ``[a] = '1' or [a] = '2'`` (one field) and ``[box(3)] = '1'`` become
    ``{"properties": {...}, "required": [...]}``; anything else (other forms or events, arithmetic, ``or`` across
    fields, ``<>``, blanks) gives None and the caller keeps the CEL translation.
    """
    try:
        tree = parse(source)
    except Untranslatable:
        return None
    properties: dict[str, dict] = {}
    for term in _conjuncts(tree):
        test = _test(term, resolve)
        if test is None:
            return None
        name, keywords = test
        merged = properties.setdefault(name, {})
        if set(merged) & set(keywords):
            return None
        merged.update(keywords)
    return {"properties": properties, "required": list(properties)} if properties else None


def _conjuncts(node: Node) -> list[Node]:
    while node.op == "paren":
        node = node.args[0]
    if node.op == "and":
        return _conjuncts(node.args[0]) + _conjuncts(node.args[1])
    return [node]


def _test(node: Node, resolve: Resolver) -> tuple[str, dict] | None:
    alternatives = _alternatives(node)
    if len(alternatives) > 1:
        tests = [_test(term, resolve) for term in alternatives]
        if any(t is None or "const" not in t[1] for t in tests) or len({t[0] for t in tests}) != 1:
            return None
        return tests[0][0], {"enum": [t[1]["const"] for t in tests]}
    if node.op != "cmp":
        return None
    op, left, right = node.args
    if left.op != "field" or right.op not in ("num", "str"):
        return None
    name, event, code = left.args
    try:
        field = resolve(name, event)
    except Untranslatable:
        return None
    if field.form_field is None:
        return None
    value = str(right.args[0])
    if code is not None:
        if field.kind != "array" or op != "==" or value.strip() != "1":
            return None
        box = _typed(code, "integer" if field.integer_codes else "string")
        return (field.form_field, {"contains": {"const": box}}) if box is not None else None
    if field.kind == "array" or value == "":
        return None
    typed = _typed(value, field.kind)
    if typed is None:
        return None
    if op == "==":
        return field.form_field, {"const": typed}
    if op in SCHEMA_BOUND and field.kind in ("integer", "number") and not isinstance(typed, bool):
        return field.form_field, {SCHEMA_BOUND[op]: typed}
    return None


def _alternatives(node: Node) -> list[Node]:
    while node.op == "paren":
        node = node.args[0]
    if node.op == "or":
        return _alternatives(node.args[0]) + _alternatives(node.args[1])
    return [node]
