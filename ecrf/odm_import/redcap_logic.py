"""REDCap branching logic and calculations → CEL.

REDCap writes ``[field]``, ``[event][field]``, ``[field(code)]`` for one box
of a checkbox, quoted codes (``[sex] = '1'``), ``""`` for blank, and the
functions ``datediff``, ``sum``, ``if``, ``round``, ``abs``, ``min`` and
``max``. The expression is parsed into a small tree first (the shared
tokenizer of :mod:`ecrf.odm_import.translate`), because what a comparison
means depends on the field it tests: ``'1'`` is the number 1 for a radio with
integer codes, ``true`` for a yes/no, a box ticked for a checkbox. Anything
else raises :class:`Untranslatable` saying what stopped it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ecrf.odm_import.translate import COMPARE, TokenReader, Untranslatable, cel_number, cel_string

DATEDIFF_UNITS = {"d": "", "y": " / 365.2425", "M": " / 30.44", "w": " / 7.0", "h": " * 24.0", "m": " * 1440.0",
                  "s": " * 86400.0"}
MAX_LENGTH = 5000  # characters: REDCap logic is a line or two; anything longer is refused, not parsed
MAX_DEPTH = 32  # nested parentheses: deeper would only exhaust the parser's (and CEL's) stack
FUNCTIONS = ("datediff", "sum", "if", "round", "roundup", "rounddown", "abs", "min", "max")


@dataclass(frozen=True)
class Operand:
    """What a field reference becomes: its CEL path and its kind (number, string, boolean, date, array)."""

    cel: str
    kind: str
    form_field: str | None = None  # the engine item name when the field is on the form the rule lives on
    integer_codes: bool = False  # a checkbox whose codes are whole numbers


Resolver = Callable[[str, str | None], Operand]


@dataclass
class Node:
    op: str  # num str bool field cmp and or not arith neg call
    args: tuple = ()


class _Parser(TokenReader):
    """Precedence climbing: or < and < not < comparison < sum < product < power < unary < atom."""

    def disjunction(self) -> Node:
        left = self.conjunction()
        while self.accept("||"):
            left = Node("or", (left, self.conjunction()))
        return left

    def conjunction(self) -> Node:
        left = self.negation()
        while self.accept("&&"):
            left = Node("and", (left, self.negation()))
        return left

    def negation(self) -> Node:
        if self.accept("!"):
            return Node("not", (self.negation(),))
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum()
        token = self.peek()
        if token is not None and token.kind == "op" and token.text in COMPARE:
            self.position += 1
            return Node("cmp", (COMPARE[token.text], left, self.sum()))
        return left

    def sum(self) -> Node:
        left = self.product()
        while (op := self.accept("+", "-")) is not None:
            left = Node("arith", (op, left, self.product()))
        return left

    def product(self) -> Node:
        left = self.power()
        while (op := self.accept("*", "/")) is not None:
            left = Node("arith", (op, left, self.power()))
        return left

    def power(self) -> Node:
        base = self.unary()
        if self.accept("^"):
            exponent = self.unary()
            while exponent.op == "paren":
                exponent = exponent.args[0]
            if exponent.op != "num" or exponent.args[0] not in ("1", "2", "3", "4"):
                raise Untranslatable("'^' with an exponent other than 1, 2, 3 or 4 has no CEL operator")
            return Node("power", (base, int(exponent.args[0])))
        return base

    def unary(self) -> Node:
        if self.accept("-"):
            return Node("neg", (self.unary(),))
        return self.atom()

    def atom(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Node("num", (token.text,))
        if token.kind == "string":
            return Node("str", (token.text[1:-1],))
        if token.kind == "bool":
            return Node("bool", (token.text == "true",))
        if token.kind == "op" and token.text == "(":
            inner = self.disjunction()
            if not self.accept(")"):
                raise Untranslatable("missing ')'")
            return Node("paren", (inner,))
        if token.kind == "bracket":
            return self.reference(token.text[1:-1])
        if token.kind == "name" and self.accept("("):
            return self.call(token.text)
        raise Untranslatable(f"unexpected {token.text!r} (REDCap names fields in [brackets])")

    def reference(self, first: str) -> Node:
        following = self.peek()
        event = None
        if following is not None and following.kind == "bracket":
            self.position += 1
            event, first = first, following.text[1:-1]
        name, _, code = first.partition("(")
        if code:
            if not code.endswith(")") or not code[:-1]:
                raise Untranslatable(f"[{first}] is not a field reference")
            code = code[:-1]
        return Node("field", (name.strip(), event, code or None))

    def call(self, name: str) -> Node:
        if name.lower() not in FUNCTIONS:
            raise Untranslatable(f"function {name}() has no translation")
        args = []
        if not self.accept(")"):
            args.append(self.disjunction())
            while self.accept(","):
                args.append(self.disjunction())
            if not self.accept(")"):
                raise Untranslatable(f"missing ')' after the arguments of {name}()")
        return Node("call", (name.lower(), tuple(args)))


def parse(source: str) -> Node:
    """The expression's tree; :class:`Untranslatable` when it is not REDCap logic this translator reads."""
    if len(source) > MAX_LENGTH:
        raise Untranslatable(f"{len(source)} characters: longer than {MAX_LENGTH}")
    depth = deepest = 0
    for character in source:
        depth += {"(": 1, ")": -1}.get(character, 0)
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise Untranslatable(f"parentheses nested {deepest} deep (at most {MAX_DEPTH})")
    try:
        return _Parser(source.replace("\r", " ").replace("\n", " ")).parse()
    except RecursionError:  # a long run of unary operators ('- - - …', 'not not …')
        raise Untranslatable("operators nested too deeply") from None


def _literal(node: Node, kind: str) -> str:
    """A literal compared with a field of ``kind``, typed to it (``'1'`` → ``1.0`` for a number, true for yes/no)."""
    text = node.args[0]
    if node.op == "bool":
        return "true" if text else "false"
    if kind == "boolean":
        if str(text).strip() in ("1", "0"):
            return "true" if str(text).strip() == "1" else "false"
        raise Untranslatable(f"a yes/no field compared with {text!r}")
    if kind == "number":
        try:
            Decimal(str(text).strip())
        except InvalidOperation:
            raise Untranslatable(f"a numeric field compared with {text!r}") from None
        return cel_number(str(text).strip())
    return cel_string(str(text))


class Translator:
    """Emits CEL for one expression's tree, resolving each field reference with ``resolve``."""

    def __init__(self, resolve: Resolver):
        self.resolve = resolve

    def operand(self, node: Node) -> Operand:
        """The resolved field a ``[field]`` node names (a checkbox box is only meaningful in a comparison)."""
        name, event, code = node.args
        if code is not None:
            raise Untranslatable(f"[{name}({code})] outside a comparison")
        return self.resolve(name, event)

    def cel(self, node: Node) -> str:
        """The CEL text of a node and everything below it."""
        op, args = node.op, node.args
        if op == "num":
            return cel_number(args[0])
        if op == "str":
            try:
                return cel_number(args[0])
            except ValueError:
                return cel_string(args[0])
        if op == "bool":
            return "true" if args[0] else "false"
        if op == "paren":
            return f"({self.cel(args[0])})"
        if op == "field":
            return self.operand(node).cel
        if op in ("and", "or"):
            return f"{self.cel(args[0])} {'&&' if op == 'and' else '||'} {self.cel(args[1])}"
        if op == "not":
            return f"!({self.cel(args[0])})"
        if op == "neg":
            return f"-{self.number(args[0])}"
        if op == "arith":
            return f"{self.number(args[1])} {args[0]} {self.number(args[2])}"
        if op == "power":
            base = self.number(args[0])
            return "(" + " * ".join([base] * args[1]) + ")"
        if op == "cmp":
            return self.comparison(*args)
        return self.call(*args)

    def number(self, node: Node) -> str:
        """The node as a number: a yes/no field counts 1 or 0, as REDCap scores add them."""
        if node.op == "field" and node.args[2] is None and self.operand(node).kind == "boolean":
            return f"({self.operand(node).cel} ? 1.0 : 0.0)"
        return self.cel(node)

    def comparison(self, op: str, left: Node, right: Node) -> str:
        """A comparison with its literal typed to the field it tests; ``""`` is the blank test."""
        if right.op == "field" and left.op in ("num", "str", "bool"):
            left, right = right, left
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if left.op != "field" or right.op not in ("num", "str", "bool"):
            return f"{self.cel(left)} {op} {self.cel(right)}"
        name, event, code = left.args
        if code is not None:
            return self.box(left, op, right)
        field = self.resolve(name, event)
        if right.op == "str" and right.args[0] == "" and op in ("==", "!="):
            return f"{'!' if op == '==' else ''}has({field.cel})"
        if field.kind == "array":
            raise Untranslatable(f"checkbox [{name}] compared as a whole (write [{name}(code)])")
        kind = "number" if field.kind in ("number", "integer") else field.kind
        if kind == "string" and op not in ("==", "!=") and right.op != "bool":
            # REDCap orders a text field holding a number as a number; so does double() (an error when it is not)
            return f"double({field.cel}) {op} {_literal(right, 'number')}"
        return f"{field.cel} {op} {_literal(right, kind)}"

    def box(self, left: Node, op: str, right: Node) -> str:
        """``[field(code)] = '1'``: the box for ``code`` is ticked (``'0'``: it is not)."""
        name, event, code = left.args
        field = self.resolve(name, event)
        if field.kind != "array":
            raise Untranslatable(f"[{name}({code})] but {name} is not a checkbox")
        value = str(right.args[0]).strip()
        if op not in ("==", "!=") or value not in ("0", "1"):
            raise Untranslatable(f"[{name}({code})] {op} {value!r}: a box is compared with '1' or '0'")
        literal = cel_number(code) if field.integer_codes else cel_string(code)
        ticked = (op == "==") == (value == "1")
        test = f"has({field.cel}) && {literal} in {field.cel}"
        return f"({test})" if ticked else f"!({test})"

    def call(self, name: str, args: tuple) -> str:
        """A REDCap function call in CEL (``sum`` ``if`` ``abs`` ``min`` ``max`` ``round*`` ``datediff``)."""
        values = [self.cel(arg) if name in ("if", "datediff") else self.number(arg) for arg in args]
        if name == "sum":
            if not values:
                raise Untranslatable("sum() of nothing")
            return "(" + " + ".join(values) + ")"
        if name == "if":
            if len(values) != 3:
                raise Untranslatable("if() takes three arguments")
            return f"({values[0]} ? {values[1]} : {values[2]})"
        if name == "abs" and len(values) == 1:
            return f"({values[0]} < 0.0 ? -({values[0]}) : {values[0]})"
        if name in ("min", "max") and len(values) >= 1:
            result, comparison = values[0], "<" if name == "min" else ">"
            for value in values[1:]:
                result = f"({value} {comparison} {result} ? {value} : {result})"
            return result
        if name in ("round", "roundup", "rounddown"):
            return self.rounding(name, args, values)
        if name == "datediff":
            return self.datediff(args, values)
        raise Untranslatable(f"{name}() with {len(values)} arguments has no translation")

    def rounding(self, name: str, args: tuple, values: list[str]) -> str:
        """``round``/``roundup``/``rounddown`` to a whole number of decimal places, as CEL arithmetic."""
        if len(values) not in (1, 2):
            raise Untranslatable(f"{name}() takes one or two arguments")
        places = args[1].args[0] if len(args) == 2 and args[1].op in ("num", "str") else "0" if len(args) == 1 else None
        if places is None or not str(places).isdigit() or int(places) > 10:
            raise Untranslatable(f"{name}() with decimal places that are not a small whole number")
        scale = cel_number(str(10 ** int(places)))
        x = values[0]
        half = {"round": "0.5", "roundup": "0.999999999", "rounddown": "0.0"}[name]
        # int() truncates toward zero, so the half step takes the value's sign: half away from zero, as REDCap
        return f"(double(int(({x}) * {scale} + ({x} >= 0.0 ? {half} : -{half}))) / {scale})"

    def datediff(self, args: tuple, values: list[str]) -> str:
        """``datediff(a, b, unit[, format][, signed])``: b − a in the unit, unsigned unless asked."""
        if len(args) < 3:
            raise Untranslatable("datediff() needs two dates and a unit")
        for arg in args[:2]:
            if arg.op != "field":
                raise Untranslatable("datediff() with 'today' or a literal date (the form language has no clock)")
        unit = args[2].args[0] if args[2].op == "str" else None
        if unit not in DATEDIFF_UNITS:
            raise Untranslatable(f"datediff() unit {unit!r}")
        if len(args) > 3 and args[3].op == "str" and args[3].args[0] not in ("ymd", "mdy", "dmy"):
            raise Untranslatable(f"datediff() date format {args[3].args[0]!r}")
        signed = len(args) > 3 and args[-1].op == "bool" and args[-1].args[0]
        days = f"double(days_between({values[0]}, {values[1]})){DATEDIFF_UNITS[unit]}"
        return f"({days})" if signed else f"({days} < 0.0 ? -({days}) : {days})"


def to_cel(source: str, resolve: Resolver) -> str:
    """The CEL expression meaning the REDCap expression ``source``; :class:`Untranslatable` when there is none."""
    tree = parse(source)
    try:
        return Translator(resolve).cel(tree)
    except RecursionError:
        raise Untranslatable("operators nested too deeply") from None
