"""Foreign expressions → CEL: the arithmetic and logic every EDC writes alike.

ODM FormalExpressions (ConditionDef, MethodDef) are written in whatever the
source system speaks; what they share — comparisons, and/or/not, arithmetic,
item references, numbers and strings — translates to the form language. The
rest raises :class:`Untranslatable` naming what stopped it, so the caller can
keep the original visible and report it. Item references are resolved by the
caller (``resolve``), which is what lets another importer (REDCap's
``[field]`` syntax) reuse the same translator.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Resolver = Callable[[str, str | None], str]
"""``resolve(reference, event)`` → a CEL operand (``data.AGE``), or raises Untranslatable."""


class Untranslatable(ValueError):
    """The expression uses something the form language cannot say; the message says what."""


TOKEN = re.compile(r"""
    \s*(?:
      (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<string>'[^']*'|"[^"]*")
    | (?P<bracket>\[[^\[\]]+\])
    | (?P<op><>|!=|==|<=|>=|&&|\|\||[=<>!+\-*/()^,])
    | (?P<name>[$@]?[A-Za-z_][A-Za-z0-9_.]*)
    )""", re.VERBOSE)

WORD_OPS = {"and": "&&", "or": "||", "not": "!", "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">",
            "ge": ">=", "div": "/"}
COMPARE = {"=": "==", "==": "==", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass
class Token:
    kind: str
    text: str


def tokens(source: str) -> list[Token]:
    """The expression's tokens; :class:`Untranslatable` at the first character no token matches."""
    found, position, source = [], 0, source.strip()
    while position < len(source):
        match = TOKEN.match(source, position)
        if not match or match.end() == position:
            position += len(source[position:]) - len(source[position:].lstrip())
            raise Untranslatable(f"unexpected {source[position:position + 12]!r} at character {position + 1}")
        kind = match.lastgroup
        text = match.group(kind)
        if kind == "name" and text.lower() in WORD_OPS:
            kind, text = "op", WORD_OPS[text.lower()]
        elif kind == "name" and text.lower() in ("true", "false"):
            kind, text = "bool", text.lower()
        found.append(Token(kind, text))
        position = match.end()
    return found


class TokenReader:
    """Reads one expression's tokens left to right; a parser adds the grammar, starting at ``disjunction``."""

    def __init__(self, source: str):
        self.tokens = tokens(source)
        self.position = 0

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise Untranslatable("expression ends too early")
        self.position += 1
        return token

    def accept(self, *ops: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "op" and token.text in ops:
            self.position += 1
            return token.text
        return None

    def parse(self):
        """The whole expression read by the grammar; :class:`Untranslatable` if empty or anything is left over."""
        if not self.tokens:
            raise Untranslatable("empty expression")
        result = self.disjunction()
        if self.peek() is not None:
            raise Untranslatable(f"unexpected {self.peek().text!r}")
        return result

    def disjunction(self):
        raise NotImplementedError


class _Parser(TokenReader):
    """Precedence climbing over or < and < not < comparison < sum < product < unary."""

    def __init__(self, source: str, resolve: Resolver):
        super().__init__(source)
        self.resolve = resolve

    def disjunction(self) -> str:
        left = self.conjunction()
        while self.accept("||"):
            left = f"{left} || {self.conjunction()}"
        return left

    def conjunction(self) -> str:
        left = self.negation()
        while self.accept("&&"):
            left = f"{left} && {self.negation()}"
        return left

    def negation(self) -> str:
        if self.accept("!"):
            return f"!({self.negation()})"
        return self.comparison()

    def comparison(self) -> str:
        left = self.sum()
        token = self.peek()
        if token is not None and token.kind == "op" and token.text in COMPARE:
            self.position += 1
            return f"{left} {COMPARE[token.text]} {self.sum()}"
        return left

    def sum(self) -> str:
        left = self.product()
        while (op := self.accept("+", "-")) is not None:
            left = f"{left} {op} {self.product()}"
        return left

    def product(self) -> str:
        left = self.unary()
        while (op := self.accept("*", "/", "^")) is not None:
            if op == "^":
                raise Untranslatable("'^' (power) has no CEL operator")
            left = f"{left} {op} {self.unary()}"
        return left

    def unary(self) -> str:
        if self.accept("-"):
            return f"-{self.unary()}"
        return self.atom()

    def atom(self) -> str:
        token = self.take()
        if token.kind == "number":
            return cel_number(token.text)
        if token.kind == "string":
            return cel_string(token.text[1:-1])
        if token.kind == "bool":
            return token.text
        if token.kind == "op" and token.text == "(":
            inner = self.disjunction()
            if not self.accept(")"):
                raise Untranslatable("missing ')'")
            return f"({inner})"
        if token.kind == "bracket":
            following = self.peek()
            if following is not None and following.kind == "bracket":
                self.position += 1
                return self.resolve(following.text[1:-1], token.text[1:-1])
            return self.resolve(token.text[1:-1], None)
        if token.kind == "name":
            following = self.peek()
            if following is not None and following.kind == "op" and following.text == "(":
                raise Untranslatable(f"function {token.text}() has no translation")
            return self.resolve(token.text.lstrip("$@"), None)
        raise Untranslatable(f"unexpected {token.text!r}")


def cel_number(text: str) -> str:
    """A numeric literal as a CEL double: data are doubles and CEL does not mix int and double arithmetic."""
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise Untranslatable(f"number {text} is too large for a double")
    return repr(value)


def cel_string(text: str) -> str:
    """A CEL string literal holding ``text``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_cel(source: str, resolve: Resolver) -> str:
    """The CEL expression meaning ``source``; :class:`Untranslatable` saying why when there is none.

    Understands comparisons (``=``, ``==``, ``!=``, ``<>``, ``<``, ``<=``, ``>``, ``>=`` and the XPath words
    ``eq`` … ``ge``), ``and``/``or``/``not`` (and ``&&``, ``||``, ``!``), ``+ - * /`` (and ``div``), parentheses,
    numbers, quoted strings, ``true``/``false`` and item references (``AGE``, ``$I.AGE``, ``[age]``,
    ``[event][age]``), each handed to ``resolve``.
    """
    return _Parser(source, resolve).parse()
