"""JavaScript source text that no data can break out of: ASCII-only string literals and numbers.

Everything a RotoDocument carries into a generated ``.jsx`` (names, paths, labels) goes through
:func:`js_string`. The result is pure printable ASCII: quotes, backslashes, ``<``/``>``/``&``,
control characters, the line terminators U+2028/U+2029 and every non-ASCII character become
``\\uXXXX`` escapes (astral characters as surrogate pairs), so a value can neither end its
literal nor start a new line, and ExtendScript never has to guess the file's encoding.

>>> print(js_string('say "hi"\\n\\u00e9'))
"say \\u0022hi\\u0022\\u000a\\u00e9"
>>> js_number(0.1), js_number(-0.0), js_number(3)
('0.1', '0', '3')
"""

from __future__ import annotations

import math

import numpy as np

# Printable ASCII minus the characters that mean something to JS, HTML or a shell.
_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F)) - set("\"'\\<>&`$")


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code > 0xFFFF:  # astral: a UTF-16 surrogate pair, as JS strings are UTF-16
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def js_escape(text) -> str:
    """The body of a JS string literal for ``text`` (no quotes around it); pure ASCII."""
    return "".join(ch if ch in _SAFE else _escape_char(ch) for ch in str(text))


def js_string(text) -> str:
    """A double-quoted, pure-ASCII JS string literal whose value is exactly ``text``."""
    return f'"{js_escape(text)}"'


def js_number(value) -> str:
    """A finite number as JS source; never ``NaN``, ``Infinity`` or ``-0``."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot write the non-finite number {value} into a script")
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def js_int_list(values) -> str:
    """``[1,2,3]`` from integers (vectorised formatting of large arrays)."""
    return "[" + ",".join(map(str, np.asarray(values, dtype=np.int64).ravel().tolist())) + "]"


__all__ = ["js_escape", "js_string", "js_number", "js_int_list"]
