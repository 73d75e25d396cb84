"""The boundary: the one place that checks what arrives from outside before the core sees it.

Every JSON document that enters the hub (REST bodies, WebSocket frames, webhook bodies, the
CLI's `key=value` parameters, values an automation renders) passes `loads` or `check`:

* text must be encodable as UTF-8: a lone surrogate (`"\\ud800"`, which Python's own JSON
  parser accepts) is refused, because it cannot be stored, hashed into the audit chain or
  sent back to anyone;
* containers nest at most MAX_DEPTH levels (parsers, validators, the audit encoder and
  every recursive walk stay far from their own limits);
* identifiers (device ids, action names) hold no control characters, so nothing a client
  sends can draw a fake line in a terminal or a log.

`printable` is the other side: it escapes control characters in text shown to people
(`hub audit tail`, `hub devices`), while JSON output stays exact.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import orjson

from hub.errors import InvalidRequest

MAX_DEPTH = 32  # nesting levels of objects and arrays in any JSON document the hub accepts

# C0 and C1 controls, DEL, and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class BoundaryError(InvalidRequest):
    """Input refused at the boundary (400 `invalid_json` unless the caller says otherwise)."""

    code = "invalid_json"


def loads(data: bytes | str, *, what: str = "the body") -> Any:
    """Parse one JSON document from outside; raise BoundaryError (400 `invalid_json`) for
    anything that is not JSON, not UTF-8 (lone surrogates included) or nested too deep."""
    try:
        value = orjson.loads(data)  # refuses invalid UTF-8 and lone surrogates itself
    except orjson.JSONDecodeError as err:
        raise BoundaryError(f"{what} is not valid JSON: {err}") from None
    problem = _problem(value, check_text=False)
    if problem:
        raise BoundaryError(f"{what} {problem}")
    return value


def check(value: Any, *, what: str = "the value", code: str = "invalid_json") -> Any:
    """The same rules for a value decoded elsewhere (json.loads, a template, a Python
    caller): raise BoundaryError with `code` when it breaks them, else return it."""
    problem = _problem(value, check_text=True)
    if problem:
        raise BoundaryError(f"{what} {problem}", code=code)
    return value


def problem(value: Any) -> str | None:
    """What is wrong with `value` by the rules above, or None."""
    return _problem(value, check_text=True)


def _problem(value: Any, *, check_text: bool) -> str | None:
    # Iterative, so a hostile depth cannot exhaust the interpreter's stack here.
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if check_text and not _utf8(item):
                return "contains text that is not valid Unicode (a lone surrogate)"
        elif isinstance(item, dict):
            if depth >= MAX_DEPTH:
                return f"nests deeper than {MAX_DEPTH} levels"
            for key, child in item.items():
                if check_text and isinstance(key, str) and not _utf8(key):
                    return "contains text that is not valid Unicode (a lone surrogate)"
                if isinstance(child, dict | list | str):
                    stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):
            if depth >= MAX_DEPTH:
                return f"nests deeper than {MAX_DEPTH} levels"
            stack.extend((child, depth + 1) for child in item
                         if isinstance(child, dict | list | tuple | str))
    return None


def _utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def identifier(value: Any, name: str) -> str:
    """A device id or action name: a non-empty string of at most 256 printable characters."""
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{name} must be a non-empty string", field=name)
    if len(value) > 256:
        raise InvalidRequest(f"{name} is longer than 256 characters", field=name)
    if not _utf8(value) or _CONTROL.search(value):
        raise InvalidRequest(f"{name} contains control characters or invalid text", field=name)
    return value


def printable(text: Any) -> str:
    """`text` safe to print to a terminal: control and format characters (newlines, ANSI
    escapes, bidirectional overrides) and lone surrogates are shown as escapes."""
    text = str(text)
    if text.isascii() and text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif unicodedata.category(ch) == "Cs":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)
