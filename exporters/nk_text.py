"""Text primitives of Nuke scripts: TCL words, roto-curve strings and roto float tokens.

A ``.nk`` file is TCL. Every knob value is one TCL word, and a word that is neither braced nor
escaped can run commands when Nuke loads the script (``[exec ...]``) or read variables
(``$env(HOME)``). :func:`tcl_word` quotes any text so that TCL gives it back verbatim.

Inside the ``curves`` knob (a braced TCL word) names follow the roto grammar's own quoting
(Foundry NDK "Roto serialisation format"): unquoted unless they hold a space, ``"``, ``'``,
``\\``, ``{`` or ``}``, else double-quoted with those characters backslash-escaped. A
backslash-escaped brace does not count for TCL's brace matching, so a name cannot close the
knob's word early.

Numbers inside ``curves`` are IEEE single floats written as ``x`` + 8 hex digits of the
big-endian bits; Nuke writes exactly 0 and 1 as ``0`` and ``1``.

>>> nk_float(960.0), nk_float(-60.0), nk_float(1.0), nk_float(-0.0)
('x44700000', 'xc2700000', '1', '0')
>>> tcl_word("plain_name.0042"), tcl_word("a [b] $c")
('plain_name.0042', '"a \\\\[b\\\\] \\\\$c"')
>>> curve_name("p1_face"), curve_name('}{ "x"')
('p1_face', '"\\\\}\\\\{ \\\\"x\\\\""')
"""

from __future__ import annotations

import re
import struct

import numpy as np

from m2fp_roto.errors import RotoError


class NukeTextError(RotoError, ValueError):
    """A value that cannot be written into a Nuke script (e.g. a non-finite coordinate)."""


# -- roto float tokens ---------------------------------------------------------------------------

def nk_float(value: float) -> str:
    """One float in the roto grammar's token form (float32, hex bits, 0 and 1 plain)."""
    return float_tokens(np.array([value]))[0]


def float_tokens(values) -> list[str]:
    """Roto float tokens for every value of ``values`` (flattened, C order); vectorised."""
    f32 = np.ascontiguousarray(np.asarray(values, dtype=np.float64).ravel().astype(np.float32))
    if not np.isfinite(f32).all():
        raise NukeTextError("non-finite coordinate in roto data")
    f32[f32 == 0] = 0.0  # -0.0 -> 0.0, written "0"
    hexes = f32.astype(">f4").tobytes().hex()
    tokens = ["x" + hexes[i:i + 8] for i in range(0, len(hexes), 8)]
    for value, text in ((0, "0"), (1, "1")):
        for i in np.flatnonzero(f32 == value).tolist():
            tokens[i] = text
    return tokens


def parse_nk_float(token: str) -> float:
    """Inverse of :func:`nk_float`; plain decimals are accepted too (Nuke reads them)."""
    if token.startswith("x") and len(token) == 9:
        return struct.unpack(">f", bytes.fromhex(token[1:]))[0]
    return float(token)


# -- TCL words -------------------------------------------------------------------------------------

_TCL_BARE = re.compile(r"[A-Za-z0-9_.,:/+\-=@%^~]+")
_TCL_ESCAPES = {"\\": "\\\\", '"': '\\"', "[": "\\[", "]": "\\]", "$": "\\$", "{": "\\{", "}": "\\}",
                "\n": "\\n", "\r": "\\r", "\t": "\\t", ";": "\\;"}


def _tcl_char(ch: str) -> str:
    if ch in _TCL_ESCAPES:
        return _TCL_ESCAPES[ch]
    if ord(ch) < 0x20 or ord(ch) == 0x7F:
        return "\\u%04x" % ord(ch)
    return ch


def tcl_word(text: str) -> str:
    """``text`` as one TCL word that substitutes nothing and reads back verbatim.

    Safe characters stay bare; anything else is double-quoted with every special character
    (backslash, quote, brackets, dollar, braces, semicolon, control characters) escaped.
    """
    text = str(text)
    if _TCL_BARE.fullmatch(text):
        return text
    return '"' + "".join(_tcl_char(ch) for ch in text) + '"'


# -- names inside the curves knob ------------------------------------------------------------------

_CURVE_SPECIAL = set(" \"'\\{}")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def curve_name(name: str) -> str:
    """A layer or shape name in the roto grammar (quoted when it holds special characters).

    The grammar has no escape for control characters and TCL's text-mode reading turns a lone
    carriage return into a newline, so control characters other than newline and tab become
    U+FFFD; everything else reads back verbatim.
    """
    name = _CONTROL.sub("\ufffd", str(name))
    if name and not any(ch in _CURVE_SPECIAL or ch.isspace() or ord(ch) < 0x20 for ch in name):
        return name
    return '"' + "".join("\\" + ch if ch in "\"'\\{}" else ch for ch in name) + '"'


__all__ = ["NukeTextError", "nk_float", "float_tokens", "parse_nk_float", "tcl_word", "curve_name"]
