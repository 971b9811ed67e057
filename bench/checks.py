"""Edit checks: checks per second over one subject's whole casebook, compiled CEL programs vs parsing each time.

One synthetic subject of the bundled study gets plausible, complete data for
every scheduled form (``tests/synthetic.py``, as the other steps use), in
visit order; each record's evaluation scope is built by the engine
(``ecrf.records.scope.build_scope`` with the casebook so far, then ``derive``, so
later records see earlier ones' data and derived values, as on a save).
Nothing is written: the database is only read for reference ranges.

A pass evaluates every check of every record with the engine's own
``run_checks``, one new CEL context per record and pass (``Scope.context()``
of a copy of the record's scope without the key under which the engine keeps
a form's bindings per thread: those skip converting unchanged values, and
passing over the same records again and again would flatter them).
"compiled" runs the programs the compiled form holds
(``CompiledForm.checks[*].program``, compiled once when the study loads);
"interpreted" gives ``run_checks`` the same checks with a
program that calls ``cel.evaluate(rule, context)``, which parses and plans
the source on every evaluation. Row checks count once per row. Passes of the
two kinds (and of building the contexts alone) alternate; both must find
the same failing and broken checks.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import time

import cel

from bench.common import STUDY, bundled_app, ms, progress, test_helpers

INFUSION = dt.date(2026, 3, 2)


class Interpreted:
    """A stand-in for a ``cel.Program`` that parses its source on every ``execute``."""

    def __init__(self, source: str):
        self.source = source

    def execute(self, context):
        """The source's value in ``context``, parsed afresh."""
        return cel.evaluate(self.source, context)

    def variables(self):
        """The variables the source reads (as ``cel.Program.variables``)."""
        return cel.compile(self.source).variables()


class InterpretedForm:
    """A compiled form whose checks carry :class:`Interpreted` programs; everything else is the form's own."""

    def __init__(self, form):
        self._form = form
        self.checks = [dataclasses.replace(check, program=Interpreted(check.rule)) for check in form.checks]

    def __getattr__(self, name):
        return getattr(self._form, name)


def casebook(runtime, subject) -> list[tuple]:
    """``(event, form, scope)`` of each scheduled record of the subject whose form has checks.

    Scopes are built in visit order over the casebook so far (data + derived values).
    """
    from ecrf.records.normalise import normalise
    from ecrf.records.rules import derive
    from ecrf.records.scope import build_scope

    _, _, _, form_data, schedule = test_helpers()
    saved: dict[str, dict] = {}
    records = []
    for event_oid, form_oid, visit, day in schedule(runtime.metadata(), INFUSION):
        event, form = runtime.form_in_event(event_oid, form_oid)
        raw = {k: v for k, v in form_data(form_oid, event_oid, visit, infusion=INFUSION, day=day).items()
               if v is not None}
        data = normalise(form, raw, {})
        scope = build_scope(runtime, subject, event, form, data, records=copy.deepcopy(saved))
        derived = derive(form, scope)
        saved.setdefault(event_oid, {})[form_oid] = {**data, **derived}
        if form.checks:
            records.append((event_oid, form, scope))
    return records


def fresh(scope, keep: bool = False):
    """A copy of ``scope`` without its CEL context (its private fields back to their defaults).

    Unless ``keep``, also without the key under which the engine keeps a form's bindings per thread
    (they skip converting values that did not change: repeating the same records would flatter them),
    so that every record gets a new context.
    """
    changes = {f.name: f.default for f in dataclasses.fields(scope) if f.name.startswith("_") and f.init}
    if not keep and "key" in {f.name for f in dataclasses.fields(scope)}:
        changes["key"] = None
    return dataclasses.replace(scope, **changes)


def evaluations(form, scope) -> int:
    """How many check evaluations ``run_checks`` makes for this record (row checks once per row)."""
    variables = scope.variables
    count = 0
    for check in form.checks:
        count += len(variables["data"].get(check.item.split("/")[1], [])) if check.per_row else 1
    return count


def one_pass(records: list[tuple], forms: dict, context_only: bool = False) -> tuple[float, dict]:
    """Seconds of one pass over ``records`` (a fresh context per record), and the outcome counts.

    ``forms`` maps each form OID to the form object handed to ``run_checks``.
    With ``context_only``, only the contexts are built (the cost both kinds share).
    """
    from ecrf.records.rules import run_checks

    failing = broken = 0
    t0 = time.perf_counter()
    for _, form, built in records:
        scope = fresh(built)
        if context_only:
            scope.context()
            continue
        findings, errors = run_checks(forms[form.oid], scope)
        failing += len(findings)
        broken += len(errors)
    return time.perf_counter() - t0, {"failing": failing, "broken": broken}


def measure(records: list[tuple], budget: float) -> dict:
    """Alternating passes (compiled, interpreted, contexts alone) until ``budget`` seconds are spent (≥ 3 each).

    RuntimeError if the compiled and interpreted passes disagree on which checks fail or break.
    """
    kinds = {
        "compiled": ({form.oid: form for _, form, _ in records}, False),
        "interpreted": ({form.oid: InterpretedForm(form) for _, form, _ in records}, False),
        "contexts": ({}, True),
    }
    spent = {kind: 0.0 for kind in kinds}
    passes = {kind: 0 for kind in kinds}
    outcome = {kind: one_pass(records, forms, context_only)[1]  # warm-up
               for kind, (forms, context_only) in kinds.items()}
    if outcome["compiled"] != outcome["interpreted"]:
        raise RuntimeError(f"compiled and interpreted checks disagree: {outcome}")
    while sum(spent.values()) < budget or min(passes.values()) < 3:
        for kind, (forms, context_only) in kinds.items():
            elapsed, _ = one_pass(records, forms, context_only)
            spent[kind] += elapsed
            passes[kind] += 1
    return {kind: {"seconds": round(spent[kind], 3), "passes": passes[kind], **outcome[kind]} for kind in kinds}


def rates(result: dict, per_pass: int, contexts: int) -> dict:
    """Checks per second (with and without the shared context building) from :func:`measure`'s result."""
    context_s = result["contexts"]["seconds"] / result["contexts"]["passes"]
    found = {"context_ms_per_record": ms(context_s / contexts)}
    for kind in ("compiled", "interpreted"):
        pass_s = result[kind]["seconds"] / result[kind]["passes"]
        found[f"{kind}_pass_ms"] = ms(pass_s)
        found[f"{kind}_per_s"] = round(per_pass / pass_s)
        found[f"{kind}_eval_only_per_s"] = round(per_pass / max(pass_s - context_s, 1e-9))
    return found


def run(uri: str, quick: bool) -> dict:
    """Checks per second over a full synthetic casebook, compiled vs interpreted; ``checks_*`` keys."""
    from ecrf.studies import study_runtime
    from ecrf.subjects import register_subject
    from ecrf.users import get_user

    budget = 5.0 if quick else 60.0
    app = bundled_app(uri)
    with app.app_context():
        runtime = study_runtime(STUDY)
        subject = register_subject(runtime, get_user("staff01"), "01")
        records = casebook(runtime, subject)
        per_pass = sum(evaluations(form, scope) for _, form, scope in records)
        progress(f"checks: {len(records)} records with checks, {per_pass} check evaluations per pass; "
                 f"~{budget:g} s of alternating passes")
        result = measure(records, budget)
    found = rates(result, per_pass, len(records))
    return {
        "checks_per_s_compiled": found["compiled_per_s"],
        "checks_per_s_interpreted": found["interpreted_per_s"],
        "checks_compiled_vs_interpreted": round(found["compiled_per_s"] / found["interpreted_per_s"], 2),
        "checks_eval_only_compiled_vs_interpreted": round(
            found["compiled_eval_only_per_s"] / found["interpreted_eval_only_per_s"], 2),
        "details_checks": {
            "records": len(records), "forms": len({form.oid for _, form, _ in records}),
            "checks_defined": sum(len(runtime.form(oid).checks) for oid in {form.oid for _, form, _ in records}),
            "evaluations_per_pass": per_pass, **found, "passes": result,
        },
    }
