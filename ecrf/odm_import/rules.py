"""Rules: RangeChecks, ConditionDefs and MethodDefs as the form language says them.

Hard CheckValue limits become schema limits, soft ones query checks; a RangeCheck whose FormalExpression is
CEL (the engine's own export) is an edit check as written, its id and severity from the ``ecrf:checks``
alias. A ConditionDef in the canonical CEL the export writes becomes the ``if``/``then`` that makes items
required and shown; any other condition a query check; a MethodDef a derived value. What does not
translate is kept visible in ``x-ecrf-disabled`` and reported.
"""

from __future__ import annotations

import re

from ecrf.expressions import ExpressionError, compile_expression
from ecrf.odm_extension import aliases as ext
from ecrf.odm_extension.conditions import NotCanonical, from_exception
from ecrf.odm_import.extension import extension_of
from ecrf.odm_import.items import FALSE_CODES, TRUE_CODES, TYPES
from ecrf.odm_import.reader import NS
from ecrf.odm_import.translate import Untranslatable, cel_number, cel_string, to_cel
from ecrf.odm_import.values import decimal, texts

LIMITS = {"GE": "minimum", "LE": "maximum", "GT": "exclusiveMinimum", "LT": "exclusiveMaximum"}
CEL_COMPARATOR = {"GE": ">=", "LE": "<=", "GT": ">", "LT": "<", "EQ": "==", "NE": "!="}
STRICTER = {"minimum": max, "exclusiveMinimum": max, "maximum": min, "exclusiveMaximum": min}
DERIVED_TYPES = {"integer": "integer", "number": "number", "boolean": "boolean", "string": "string"}


class RuleReader:
    """The part of the builder that turns range checks, conditions and methods into checks and derivations."""

    # ------------------------------------------------------------------ range checks

    def _range_checks(self, item_def, name: str, schema: dict, pointer: str, ref: str, checks: list,
                      calculated: bool = False) -> None:
        oid = item_def.get("OID")
        numeric = schema["type"] in ("integer", "number")
        ids = extension_of(self.path, item_def).get(ext.CHECKS)
        ids = list(ids) if isinstance(ids, list) else []
        for index, check in enumerate(item_def.iterfind("odm:RangeCheck", NS), start=1):
            comparator, soft = check.get("Comparator"), check.get("SoftHard") == "Soft"
            if check.find("odm:FormalExpression", NS) is not None:
                named = ids.pop(0) if ids else {}
                self._expression_check(check, name, pointer, checks, named if isinstance(named, dict) else {}, index)
                continue
            if calculated:
                self.report.add("RangeCheck", f"{oid} {comparator}", None, "dropped",
                                "on a calculated item: derived values are not range-checked", check.sourceline)
                continue
            values = [v.text or "" for v in check.iterfind("odm:CheckValue", NS)]
            label = f"{oid} {comparator} {' '.join(values)} ({'soft' if soft else 'hard'})"
            if schema["type"] == "array" or not values or comparator not in (*CEL_COMPARATOR, "IN", "NOTIN"):
                self.report.add("RangeCheck", label, None, "dropped",
                                "no value, an unknown comparator or a multi-select item", check.sourceline)
                continue
            if numeric:
                parsed = [decimal(v) for v in values]
                if any(v is None for v in parsed):
                    self.report.add("RangeCheck", label, None, "dropped", f"CheckValue {values!r} is not a number",
                                    check.sourceline)
                    continue
                literals = [cel_number(str(v)) for v in parsed]
            else:
                parsed, literals = values, [cel_string(v) for v in values]
            if not soft and numeric and comparator in LIMITS:
                keyword, value = LIMITS[comparator], parsed[0]
                value = int(value) if value == value.to_integral_value() else float(value)
                schema[keyword] = STRICTER[keyword](schema[keyword], value) if keyword in schema else value
                english, _ = texts(check.find("odm:ErrorMessage", NS))
                said = (
                    f" (its message {english!r} is replaced by the engine's refusal naming the limit)"
                    if english
                    else ""
                )
                self.report.add(
                    "RangeCheck", label, None, "translated", f"hard limit: {keyword} {value}{said}", check.sourceline
                )
                continue
            if comparator in ("IN", "NOTIN"):
                test = f"{ref} in [{', '.join(literals)}]"
                test = test if comparator == "IN" else f"!({test})"
            else:
                test = f"{ref} {CEL_COMPARATOR[comparator]} {literals[0]}"
            english, labels = texts(check.find("odm:ErrorMessage", NS))
            message = {
                "en": english
                or f"{schema['title']}: expected {CEL_COMPARATOR.get(comparator, comparator)} {', '.join(values)}",
                **labels,
            }
            checks.append(
                {
                    "id": f"RC_{name}_{index}",
                    "item": pointer,
                    "severity": "query",
                    "rule": f"!has({ref}) || {test}",
                    "message": message,
                }
            )
            why = "soft: a query check, never a refusal" if soft else "a query check (no schema limit says this)"
            self.report.add("RangeCheck", label, None, "translated", why, check.sourceline)

    def _expression_check(self, check, name: str, pointer: str, checks: list, named: dict, index: int) -> None:
        """A RangeCheck whose FormalExpression must hold: an edit check when it is CEL, disabled otherwise."""
        formal = check.find("odm:FormalExpression", NS)
        source, context = (formal.text or "").strip(), formal.get("Context") or ""
        label = f"{pointer} {context or 'expression'}"
        try:
            if context.upper() != "CEL":
                raise ExpressionError(f"a {context or 'context-less'} expression, not CEL")
            compile_expression(source)
        except ExpressionError as exc:
            self.report.add("RangeCheck", label, None, "dropped", f"{exc}: {source}", check.sourceline)
            return
        english, labels = texts(check.find("odm:ErrorMessage", NS))
        found = {
            "id": named.get("id") if isinstance(named.get("id"), str) else f"RC_{name}_{index}",
            "item": pointer,
            "rule": source,
            "message": {"en": english or f"{pointer}: {source}", **labels},
            "severity": named.get("severity") if isinstance(named.get("severity"), str) else "query",
        }
        if named and "severity" not in named:
            del found["severity"]  # the engine's own export: the check named no severity (query is the default)
        if isinstance(named.get("constants"), dict):  # message placeholders -> study parameters (ecrf.check_messages)
            found["constants"] = named["constants"]
        checks.append(found)
        self.report.add(
            "RangeCheck",
            label,
            found["id"],
            "carried",
            f"edit check ({found.get('severity', 'query')}): {source}",
            check.sourceline,
        )

    # ------------------------------------------------------------------ expressions

    def _expression(self, definition) -> tuple[str, str]:
        formal = definition.find("odm:FormalExpression", NS)
        if formal is None:
            return "", ""
        return (formal.text or "").strip(), formal.get("Context") or ""

    def _resolver(self, scope: dict[str, str]):
        def resolve(reference: str, event: str | None) -> str:
            if event is not None:
                raise Untranslatable(f"[{event}][{reference}] names another event")
            if reference in scope:
                return scope[reference]
            raise Untranslatable(f"{reference!r} is not an item of this form (or of this row)")

        return resolve

    def _typed_literals(self, cel: str, scope: dict[str, str]) -> str:
        """Codes compared with a boolean or numeric item as that item's values (OpenEDC writes ``Pregnant = "1"``).

        Items are typed on import (yes/no codes become true/false), so a comparison with the code as a string
        would never hold.
        """
        for oid, operand in scope.items():
            item_def = self.defs["ItemDef"].get(oid)
            kind = TYPES.get(item_def.get("DataType")) if item_def is not None else None
            if kind not in ("boolean", "integer", "number"):
                continue

            def typed(match, kind=kind, operand=operand):
                code = match.group(2).strip().lower()
                if kind == "boolean":
                    value = "true" if code in TRUE_CODES else "false" if code in FALSE_CODES else None
                else:
                    number = decimal(code)
                    value = cel_number(str(number)) if number is not None else None
                return f"{operand} {match.group(1)} {value}" if value else match.group(0)

            cel = re.sub(rf'{re.escape(operand)} (==|!=) "([^"\\]*)"', typed, cel)
        return cel

    def _translate(self, definition, scope: dict[str, str]) -> tuple[str | None, str, str, str]:
        """``(CEL or None, original, context, reason)`` for a ConditionDef or MethodDef."""
        source, context = self._expression(definition)
        if not source:
            return None, "", context, "no FormalExpression"
        try:
            cel = (
                source
                if context.upper() == "CEL"
                else self._typed_literals(to_cel(source, self._resolver(scope)), scope)
            )
            compile_expression(cel)
        except (Untranslatable, ExpressionError) as exc:
            return None, source, context, str(exc)
        return cel, source, context, ""

    def _shown_when(self, condition_oid: str, at, name: str, row: bool, shown: dict) -> bool:
        """The engine's own condition (canonical CEL): ``name`` joins the ``if``/``then`` entry of ``shown``."""
        condition = self._ref("ConditionDef", condition_oid, at)
        source, context = self._expression(condition)
        if context.upper() != "CEL":
            return False
        try:
            scope, test = from_exception(source)
        except NotCanonical:
            return False
        if scope != ("row" if row else "data"):
            return False
        self.used_conditions.add(condition_oid)
        if condition_oid not in shown:
            shown[condition_oid] = {"if": test, "then": {"required": []}}
            self.report.add(
                "ConditionDef",
                condition_oid,
                condition.get("Name"),
                "translated",
                f"required and shown when {source[2:-1]}",
                condition.sourceline,
            )
        shown[condition_oid]["then"]["required"].append(name)
        return True

    def _condition(
        self, condition_oid: str, at, target: str, pointer: str, scope: dict[str, str], form: dict, checks: list
    ) -> bool:
        """A CollectionExceptionCondition (the item is not collected while it holds) as a query check."""
        condition = self._ref("ConditionDef", condition_oid, at)
        self.used_conditions.add(condition_oid)
        cel, source, context, reason = self._translate(condition, scope)
        if cel is None:
            self._disable(form, "ConditionDef", condition, pointer, source, context, reason)
            return False
        english, labels = texts(condition.find("odm:Description", NS))
        message = {"en": f"Should be empty: {english or 'not collected when ' + source}", **labels}
        checks.append(
            {
                "id": f"CX_{pointer.strip('/').replace('/*/', '_')}",
                "item": pointer,
                "severity": "query",
                "rule": f"!({cel}) || !has({target})",
                "message": message,
            }
        )
        self.report.add(
            "ConditionDef",
            condition_oid,
            condition.get("Name"),
            "translated",
            f"{pointer}: a query when filled while {cel}",
            condition.sourceline,
        )
        return True

    def _disable(self, form: dict, kind: str, definition, pointer: str, source: str, context: str, reason: str) -> None:
        rule = {
            "kind": kind,
            "source-oid": definition.get("OID"),
            "item": pointer,
            "expression": source or "(none)",
            "reason": reason,
        }
        if context:
            rule["context"] = context
        form.setdefault("x-ecrf-disabled", []).append(rule)
        self.report.add(
            kind,
            definition.get("OID"),
            definition.get("Name"),
            "disabled",
            f"{pointer}: kept in x-ecrf-disabled, not run: {reason}",
            definition.sourceline,
        )

    def _calculated(
        self, item_def, ref, schema: dict, name: str, pointer: str, scope: dict | None, form: dict, checks: list
    ) -> dict:
        """The derived value for an item an ODM MethodDef computes (``scope`` None: it cannot be translated)."""
        oid = item_def.get("OID")
        method = self._ref("MethodDef", ref.get("MethodOID"), ref)
        self.used_methods.add(ref.get("MethodOID"))
        _, context = self._expression(method)
        own = context.upper() == "CEL"  # the engine's own export: the type as written
        derived_type = (
            schema["type"] if own else ("number" if schema["type"] in ("integer", "number") else schema["type"])
        )
        spec = {"title": schema["title"], "type": DERIVED_TYPES.get(derived_type, "string"), "x-ecrf-source-oid": oid}
        for keyword in ("x-ecrf-unit", "x-ecrf-labels", *(("oneOf",) if own else ())):
            if keyword in schema:
                spec[keyword] = schema[keyword]
        cel, source, context, reason = (
            self._translate(method, scope)
            if scope is not None
            else (None, *self._expression(method), "a calculation inside a repeating group")
        )
        if cel is not None:
            spec["expr"] = cel
            self.report.add(
                "MethodDef",
                method.get("OID"),
                method.get("Name"),
                "translated" if not own else "carried",
                f"derived {name} = {cel}",
                method.sourceline,
            )
        else:
            spec["expr"] = "null"
            spec["description"] = f"Not translated from {method.get('OID')}: {source or '(no expression)'}"
            self._disable(form, "MethodDef", method, pointer, source, context, reason)
        self._range_checks(item_def, name, schema, pointer, f"derived.{name}", checks, calculated=True)
        aliases = extension_of(self.path, item_def)
        if isinstance(aliases.get(ext.KEYWORDS), dict):
            ext.merge(spec, aliases[ext.KEYWORDS])
        self.report.add(
            "ItemDef",
            oid,
            item_def.get("Name"),
            "translated",
            f"calculated by {method.get('OID')}: a read-only derived value {name}",
            item_def.sourceline,
        )
        return spec
