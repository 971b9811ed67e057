"""The record's rules: derivations, edit checks, flags and completeness, and one :func:`evaluate` that runs them.

Pure: no database. The save and the recheck both call :func:`evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit import unescape_token
from ecrf import expressions
from ecrf.definitions import EVENT_INPUT, ROW_ID, CompiledForm
from ecrf.expressions import ExpressionError
from ecrf.records.scope import Scope
from ecrf.studies import StudyRuntime


def completeness(form: CompiledForm, data: dict) -> tuple[str, list[str]]:
    """``("complete", [])`` or ``("incomplete", [pointers of missing required items])``."""
    missing = form.missing_items(data)
    return ("incomplete" if missing else "complete"), missing


def _typed(value: Any, kind: str) -> Any:
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def derive(form: CompiledForm, scope: Scope) -> dict:
    """Derived values in declaration order; a failing or null expression leaves its value absent."""
    derived: dict[str, Any] = {}
    if not form.derivations:
        return derived
    context = scope.context()
    for derivation in form.derivations:
        try:
            value = expressions.evaluate(derivation.program, context)
        except ExpressionError:
            continue
        if value is None:
            continue
        derived[derivation.oid] = _typed(value, derivation.spec["type"])
        scope.bind("derived", dict(derived), doubles=False)
    scope.variables["derived"] = derived
    scope.bind("derived", derived)
    return derived


@dataclass
class Finding:
    """One failing check at one item (``item`` has row ids for row checks)."""

    check: str
    item: str
    severity: str
    message: dict


def run_checks(form: CompiledForm, scope: Scope, changed: set[str] | None = None,
               failing_before: list | None = None) -> tuple[list[Finding], list[dict]]:
    """The failing checks, and the checks that could not be evaluated (broken).

    With ``changed`` (the item and derived OIDs that differ from the stored
    record) and ``failing_before`` (the ``[check, item]`` pairs that failed
    then, under the same study and form definitions), a check that reads
    none of what changed keeps its stored answer instead of being
    evaluated again.
    """
    findings: list[Finding] = []
    broken: list[dict] = []
    for check in form.checks:
        if changed is not None and failing_before is not None and not check.reads_any(changed):
            findings += [Finding(check.id, item, check.severity, check.message)
                         for check_id, item in failing_before if check_id == check.id]
            continue
        context = scope.context()
        for pointer, row in _targets(check, scope):
            if row is not None:
                scope.bind("row", row, doubles=False)
            _run_check(check, pointer, context, findings, broken)
    return findings, broken


def _targets(check, scope: Scope) -> list[tuple[str, dict | None]]:
    """``(pointer, row)`` of each place the check is evaluated: its item, or that item in each row."""
    if not check.per_row:
        return [(check.item, None)]
    group, _, item = check.item.split("/")[1:]
    return [(f"/{group}/{row[ROW_ID]}/{item}", row) for row in scope.variables["data"].get(group, [])]


def _run_check(check, pointer: str, context, findings: list[Finding], broken: list[dict]) -> None:
    """Evaluate one check at one place; a failure joins ``findings``, an unevaluable rule ``broken``."""
    try:
        ok = expressions.evaluate(check.program, context)
    except ExpressionError as exc:
        if "No such key" not in str(exc) and "KeyError" not in str(exc):  # a missing value is no fault of the rule
            broken.append({"check": check.id, "item": pointer, "error": str(exc)})
        return
    if ok is False:
        findings.append(Finding(check.id, pointer, check.severity, check.message))
    elif ok is not True and ok is not None:
        broken.append({"check": check.id, "item": pointer, "error": f"rule returned {ok!r}, not a bool"})


def range_flags(form: CompiledForm, data: dict, ranges: dict, derived: dict | None = None) -> list[dict]:
    """``{"item", "flag": "H"|"L"}`` for each value outside the site's normal range.

    An item with ``x-ecrf-range-value`` is compared through that derived value
    (for example the value converted to the range's unit).
    """
    flags = []
    derived = derived or {}

    def check(item, value, pointer):
        limits = ranges.get(item.range_analyte or "")
        if not limits or isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if "low" in limits and value < limits["low"]:
            flags.append({"item": pointer, "flag": "L", "low": limits["low"], "high": limits.get("high")})
        elif "high" in limits and value > limits["high"]:
            flags.append({"item": pointer, "flag": "H", "low": limits.get("low"), "high": limits["high"]})

    for item in form.items:
        if item.kind == "group":
            for row in data.get(item.oid) or []:
                for child in item.children:
                    if child.range_analyte:
                        check(child, row.get(child.oid), f"/{item.oid}/{row.get(ROW_ID)}/{child.oid}")
        elif item.range_analyte and data.get(item.oid) is not None:
            value = derived.get(item.range_value) if item.range_value else data.get(item.oid)
            check(item, value, f"/{item.oid}")
    return flags


def record_flags(form: CompiledForm, scope: Scope, findings: list[Finding]) -> list[dict]:
    """What the record shows beside its items: range flags and warnings."""
    flags = range_flags(form, scope.variables["data"], scope.variables["ranges"], scope.variables["derived"])
    flags += [{"item": f.item, "flag": "warning", "check": f.check, "message": f.message}
              for f in findings if f.severity == "warning"]
    return flags


def failing(study: StudyRuntime, findings: list[Finding]) -> dict:
    """What a record keeps of its failing checks: the study version, and ``[check, item]`` pairs."""
    return {"study": study.definition_hash, "found": [[f.check, f.item] for f in findings]}


def _incremental(study: StudyRuntime, form: CompiledForm, stored: dict | None, changes: list[dict],
                 derived: dict) -> tuple:
    """``(changed inputs, failing before)`` when checks may reuse the stored answers, else ``(None, None)``."""
    before = (stored or {}).get("failing") or {}
    if not stored or stored.get("definition") != form.hash or before.get("study") != study.definition_hash:
        return None, None
    changed = {unescape_token(change["path"].split("/")[1]) for change in changes}
    derived_before = stored.get("derived") or {}
    changed |= {oid for oid in set(derived_before) | set(derived) if derived_before.get(oid) != derived.get(oid)}
    if form.date_item in changed:
        changed.add(EVENT_INPUT)
    return changed, before["found"]




@dataclass
class Evaluation:
    """What the rules make of one record's data: its derived values, findings and state."""

    derived: dict
    findings: list[Finding]
    broken: list[dict]  # checks that could not be evaluated (see ecrf.records.broken)
    status: str
    missing: list[str]
    state: dict  # the record's state as its audit event stores it

    def differs_from(self, stored: dict | None) -> bool:
        """Whether the state differs from the stored record's (``failing`` only caches what the checks said)."""
        return stored is None or any(stored.get(k) != v for k, v in self.state.items() if k != "failing")


def evaluate(study: StudyRuntime, form: CompiledForm, scope: Scope, stored: dict | None = None,
             changes: list[dict] | None = None) -> Evaluation:
    """Run derive -> checks -> completeness on the scope's data and give the record's state.

    With ``stored`` (the record's projection before this save) and
    ``changes`` (the :func:`audit.diff` from it), checks that read nothing
    that changed keep their stored answers.
    """
    data = scope.variables["data"]
    derived = derive(form, scope)
    reuse = _incremental(study, form, stored, changes, derived) if changes is not None else (None, None)
    findings, broken = run_checks(form, scope, *reuse)
    status, missing = completeness(form, data)
    state = {"derived": derived, "status": status, "definition": form.hash,
             "flags": record_flags(form, scope, findings), "failing": failing(study, findings)}
    return Evaluation(derived, findings, broken, status, missing, state)
