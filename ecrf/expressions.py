"""Safe expressions (CEL) for derivations and edit checks: compile once, evaluate per save.

CEL is not Turing-complete and cannot reach Python objects other than the
functions registered here. Every number handed to an expression is a
double, so values compare the same however they were typed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import cel

from ecrf.clinical import aplastic, astct, ctcae, dates, dosing, units


class ExpressionError(Exception):
    """An expression failed to compile or to evaluate."""


def get_path(value: Any, path: str) -> Any:
    """The value at a dotted path in nested maps, or None when any step is missing."""
    for key in str(path).split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _safe(fn: Callable) -> Callable:
    def call(*args):
        try:
            return fn(*args)
        except (TypeError, ValueError, ArithmeticError, AttributeError):
            return None

    call.__name__ = fn.__name__
    return call


@lru_cache(maxsize=1)
def functions() -> dict[str, Callable]:
    """The functions expressions may call, by name (see docs/form-language.md)."""
    return {
        "get": get_path,
        "bsa_mosteller": _safe(dosing.bsa_mosteller),
        "dose_per_kg": _safe(dosing.dose_per_kg),
        "dose_within_tolerance": _safe(dosing.dose_within_tolerance),
        "expected_dose_mg": _safe(dosing.expected_dose_mg),
        "dose_deviation": _safe(dosing.dose_deviation_fraction),
        "ctcae_grade": _safe(lambda analyte, value, uln=None, lln=None, baseline=None: ctcae.grade_lab(
            analyte, value, uln=uln, lln=lln, baseline=baseline)),
        "crs_grade": _safe(astct.crs_grade),
        "ice_score": _safe(astct.ice_score),
        "icans_grade": _safe(astct.icans_grade),
        "saa_severity": _safe(aplastic.saa_severity),
        "aa_response": _safe(aplastic.response),
        "age_years": _safe(dates.age_in_years),
        "days_between": _safe(dates.days_between),
        "convert_unit": _safe(units.convert),
    }


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> cel.Program:
    """The compiled program for ``source``; :class:`ExpressionError` with the parser's message."""
    try:
        return cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        raise ExpressionError(str(exc).splitlines()[0]) from None


def as_doubles(value: Any) -> Any:
    """``value`` with every int (not bool) turned into a float, recursively."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: as_doubles(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_doubles(v) for v in value]
    return value


class Bindings:
    """A CEL context with the engine's functions, and the values bound in it.

    Converting values into CEL is the costly part of evaluating a form's
    rules, so binding a value the same as the one already bound does nothing.
    "The same" is told by the value's ``repr`` (C code, no Python call per
    element): it tells ``True`` from ``1`` from ``1.0``, a list from a tuple,
    ``nan`` from ``None``, a date from its ISO text; two equal values whose
    reprs differ (dict keys in another order) are only bound again.
    """

    def __init__(self):
        self.context = cel.Context()
        for name, fn in functions().items():
            self.context.add_function(name, fn)
        self.values: dict[str, Any] = {}
        self.seen: dict[str, tuple[bool, str]] = {}  # name -> (doubles, repr of the value as the caller passed it)

    def bind(self, name: str, value: Any, doubles: bool = True) -> None:
        """Bind ``name`` to ``value`` (its numbers as doubles unless ``doubles`` is false)."""
        # Compared before converting: the comparison and as_doubles were most of a save's derive step.
        fingerprint = (doubles, repr(value))
        if self.seen.get(name) == fingerprint:
            return
        if doubles:
            value = as_doubles(value)
        self.context.add_variable(name, value)
        self.values[name] = value
        self.seen[name] = fingerprint


_kept = threading.local()


def bindings(key: Any = None) -> Bindings:
    """Fresh bindings, or with a ``key`` the ones kept on this thread for it (callers bind every variable they read)."""
    if key is None:
        return Bindings()
    kept = _kept.__dict__.setdefault("bindings", {})
    if key not in kept:
        if len(kept) >= 256:
            kept.clear()
        kept[key] = Bindings()
    return kept[key]


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (``True`` is not ``1.0`` in an expression)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=False))
    return a == b


def evaluate(program: cel.Program, context: cel.Context) -> Any:
    """The program's value in the context; :class:`ExpressionError` if evaluation fails."""
    try:
        return program.execute(context)
    except Exception as exc:  # the CEL runtime raises assorted types for data-dependent faults
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
