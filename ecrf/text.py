"""What text the engine accepts: the one place that decides it, for every entry point.

Text reaches the audit trail, which cannot change, and from there every
export (XML 1.0, spreadsheets, PDF). So a character that one of them cannot
carry, or that hides what a reader sees, is refused when it is typed, with a
422 naming the field:

- C0 and C1 control characters and DEL; tab, line feed and carriage return
  only in multi-line text (comments, reasons, query messages, textarea items);
- lone surrogates (U+D800-U+DFFF) and Unicode non-characters (U+FDD0-U+FDEF,
  U+xFFFE and U+xFFFF of every plane);
- invisible characters that change what a reader sees: the bidirectional
  embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069: "Trojan
  source"), the zero-width space, word joiner and byte order mark (U+200B,
  U+2060, U+FEFF) and the line and paragraph separators (U+2028, U+2029).
  The zero-width (non-)joiners U+200C/U+200D stay: scripts and emoji need them.

:func:`xml_safe` is the other half, for data stored before these rules: it
replaces what XML 1.0 cannot carry with U+FFFD so that an export never fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from audit import escape_token
from ecrf.errors import FieldError, Invalid

# Refused everywhere (multi-line text included).
_ALWAYS = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0 but tab, LF, CR; DEL; C1
    "\ud800-\udfff"  # lone surrogates (a str from JSON "\ud800" escapes can hold one)
    "\ufdd0-\ufdef\ufffe\uffff"  # non-characters of the basic plane
    "\u200b\u2060\ufeff"  # zero-width space, word joiner, byte order mark
    "\u2028\u2029"  # line and paragraph separators
    "\u202a-\u202e\u2066-\u2069"  # bidirectional embeddings, overrides, isolates
)
_NONCHARACTER_PLANES = "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(1, 17))
MULTI_LINE_REFUSED = re.compile(f"[{_ALWAYS}{_NONCHARACTER_PLANES}]")
SINGLE_LINE_REFUSED = re.compile(f"[{_ALWAYS}{_NONCHARACTER_PLANES}\t\n\r]")

# What XML 1.0 cannot carry (its Char production), surrogates and the non-characters included.
_XML_UNSAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
XML_REPLACEMENT = "\ufffd"

# The longest texts the engine takes (the API's schemas and the forms' maxLength say the same).
MAX_REASON = 2000  # a reason for change, unlock or lock
MAX_MESSAGE = 4000  # a query's text or reply
MAX_MEANING = 500  # a signature's meaning
MAX_NAME = 200  # a person's printed name, a site's name, a unit


def _name(char: str) -> str:
    return f"U+{ord(char):04X}"


def text_fault(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` is not acceptable text (a message naming the first bad character), or None when it is."""
    found = (MULTI_LINE_REFUSED if multiline else SINGLE_LINE_REFUSED).search(value)
    if found is None:
        return None
    char = found.group()
    if char in "\t\n\r":
        return f"a line break or tab ({_name(char)}) is not allowed in a single-line field"
    if "\ud800" <= char <= "\udfff":
        return f"a lone surrogate ({_name(char)}) is not a character"
    if char in "\x00\x7f" or char < " " or "\x80" <= char <= "\x9f":
        return f"control character {_name(char)} is not allowed"
    if (ord(char) & 0xFFFE) == 0xFFFE or "\ufdd0" <= char <= "\ufdef":
        return f"{_name(char)} is a Unicode non-character"
    return f"invisible formatting character {_name(char)} is not allowed"


def text_error(value: Any, path: str, *, multiline: bool = False, max_length: int | None = None,
               label: str | None = None) -> FieldError | None:
    """The fault at ``path`` (its message starting with ``label``) when ``value`` is a string that is not acceptable
    text or is longer than ``max_length``; None otherwise (anything not a string is left to the type checks)."""
    if not isinstance(value, str):
        return None
    fault = text_fault(value, multiline=multiline)
    if fault is None and max_length is not None and len(value) > max_length:
        fault = f"at most {max_length} characters"
    if fault is None:
        return None
    return FieldError(path, f"{label}: {fault}" if label else fault)


def check_text(value: Any, path: str, *, multiline: bool = False, max_length: int | None = None,
               label: str | None = None) -> None:
    """Raise :class:`Invalid` naming ``path`` when :func:`text_error` finds a fault in ``value``."""
    error = text_error(value, path, multiline=multiline, max_length=max_length, label=label)
    if error is not None:
        raise Invalid(f"{path} is not acceptable text", [error])


def json_text_faults(node: Any, path: str = "") -> Iterator[FieldError]:
    """A fault for every key or string in a parsed JSON document that no text field accepts (multi-line rules;
    keys are single-line). Single-line fields are held to the stricter rule where they are read.
    """
    # One pass in C over the whole document first: most bodies hold nothing to refuse, and a walk in
    # Python over every string of a 1 MB body takes several times its parse. json.dumps writes every C0
    # control character as an escape (\n, \u0001) and leaves the other refused characters as they are.
    text = json.dumps(node, ensure_ascii=False)
    if "\\" in text or MULTI_LINE_REFUSED.search(text):
        yield from _walk(node, path)


def _walk(node: Any, path: str) -> Iterator[FieldError]:
    if isinstance(node, str):
        fault = text_fault(node, multiline=True)
        if fault:
            yield FieldError(path or "/", fault)
    elif isinstance(node, dict):
        for key, child in node.items():
            pointer = f"{path}/{pointer_token(key)}"
            fault = text_fault(key, multiline=False)
            if fault:
                yield FieldError(pointer, f"the name {fault}")
            else:
                yield from _walk(child, pointer)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _walk(child, f"{path}/{index}")


def pointer_token(key: str) -> str:
    """``key`` as one token of a JSON pointer (RFC 6901); a key holding refused text by its visible escapes."""
    escaped = escape_token(key)
    return SINGLE_LINE_REFUSED.sub(_visible_escape, escaped)


def _visible_escape(found: re.Match) -> str:
    code = ord(found.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def xml_unsafe(value: str) -> bool:
    """Whether ``value`` holds a character that XML 1.0 cannot carry."""
    return _XML_UNSAFE.search(value) is not None


def xml_safe(value: str) -> str:
    """``value`` with every character XML 1.0 cannot carry replaced by U+FFFD (old data kept exportable)."""
    return _XML_UNSAFE.sub(XML_REPLACEMENT, value)
