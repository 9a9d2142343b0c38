"""An independent reader and validator of Nuke scripts with Roto nodes (test-side only).

Two levels, written from the TCL rules (Tcl(n) "dodekalogue") and the roto grammar notes in
research/nuke.md, not from the writer:

* ``read_script(text)`` splits a ``.nk`` into TCL commands and words. Node blocks
  (``Roto {...}``) are split again into knob lines. Every command or variable substitution
  a word would perform is recorded in ``Word.substitutions``.
* ``parse_curves(value)`` tokenizes the ``curves`` knob (braces, quoted strings, atoms) and
  ``validate_tree`` checks it: the ``{v x3f99999a}`` header, layer/curvegroup layout, points in
  threes, feather entries equal to main (or ``idem``), every animated coordinate holding one
  key or exactly as many keys (run-length groups expanded) as its shape's key-time list, hex
  floats of 8 digits and finite, unique element names.
* ``decode_shapes(tree)`` returns each curvegroup's key times and entry values
  (times, entries, 2) as numbers, for comparison with the document.

It is one module of about 450 lines on purpose: both levels share one bracket-and-brace
scanner, and a reader that stands apart from the writer is easier to trust when it is read
top to bottom in one place.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field

import numpy as np


class NkSyntaxError(ValueError):
    pass


# -- TCL level ---------------------------------------------------------------------------------------

@dataclass
class Word:
    text: str                      # the word after TCL substitution rules (substitutions kept raw)
    braced: bool = False
    substitutions: list = field(default_factory=list)  # ("command", "[...]") / ("variable", "$x")


_BACKSLASH = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _backslash(text: str, i: int) -> tuple[str, int]:
    """TCL backslash substitution at text[i] == '\\'; returns (replacement, next index)."""
    c = text[i + 1] if i + 1 < len(text) else ""
    if c == "\n":
        j = i + 2
        while j < len(text) and text[j] in " \t":
            j += 1
        return " ", j
    if c in _BACKSLASH:
        return _BACKSLASH[c], i + 2
    if c == "u":
        m = re.match(r"[0-9a-fA-F]{1,4}", text[i + 2:])
        if m:
            return chr(int(m.group(), 16)), i + 2 + len(m.group())
    if c == "x":
        m = re.match(r"[0-9a-fA-F]{1,2}", text[i + 2:])
        if m:
            return chr(int(m.group(), 16)), i + 2 + len(m.group())
    return c, i + 2


def _skip_group(text: str, i: int, close: str) -> int:
    """Index after the ``close`` matching the opener text[i] (``[`` or ``{``).

    Backslash-escaped characters never count; inside ``[...]`` a braced word is skipped whole,
    as TCL's command substitution does.
    """
    opener = text[i]
    depth, j = 0, i
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == opener:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return j + 1
        elif c == "{" and opener == "[":
            j = _skip_braces(text, j)
            continue
        j += 1
    raise NkSyntaxError(f"unbalanced {opener}")


def _skip_brackets(text: str, i: int) -> int:
    return _skip_group(text, i, "]")


def _skip_braces(text: str, i: int) -> int:
    return _skip_group(text, i, "}")


def _substituting(text: str, i: int, stop) -> tuple[Word, int]:
    """A quoted or bare word from text[i]; ``stop(c)`` ends it."""
    out, subs = [], []
    while i < len(text) and not stop(text[i]):
        c = text[i]
        if c == "\\":
            rep, i = _backslash(text, i)
            out.append(rep)
        elif c == "[":
            j = _skip_brackets(text, i)
            subs.append(("command", text[i:j]))
            out.append(text[i:j])
            i = j
        elif c == "$" and i + 1 < len(text) and (text[i + 1].isalnum() or text[i + 1] in "_{:"):
            m = re.match(r"\$(\{[^}]*\}|(?:::)?[A-Za-z0-9_]+(?:::[A-Za-z0-9_]+)*(?:\([^)]*\))?)", text[i:])
            subs.append(("variable", m.group()))
            out.append(m.group())
            i += len(m.group())
        else:
            out.append(c)
            i += 1
    return Word("".join(out), substitutions=subs), i


_BRACED_BACKSLASH = re.compile(r"\\(\n[ \t]*|.)", re.S)


def _braced_backslash(m) -> str:
    # inside braces only backslash-newline is substituted; any other pair stays as written
    return " " if m.group(1).startswith("\n") else m.group()


def split_commands(text: str) -> list[list[Word]]:
    """TCL commands (lists of words) of a script; comments skipped."""
    commands, words, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t" or (c == "\\" and text[i + 1:i + 2] == "\n"):
            i += 2 if c == "\\" else 1
            continue
        if c in "\n;":
            if words:
                commands.append(words)
                words = []
            i += 1
            continue
        if c == "#" and not words:
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c == "{":
            j = _skip_braces(text, i)
            body = text[i + 1:j - 1]
            words.append(Word(_BRACED_BACKSLASH.sub(_braced_backslash, body), braced=True))
            i = j
        elif c == '"':
            w, i = _substituting(text, i + 1, lambda ch: ch == '"')
            if i >= n:
                raise NkSyntaxError("unterminated quoted word")
            i += 1
            words.append(w)
        else:
            w, i = _substituting(text, i, lambda ch: ch in " \t\n;")
            words.append(w)
        if i < n and text[i] not in " \t\n;":
            raise NkSyntaxError(f"extra characters after close-quote or close-brace at offset {i}")
    if words:
        commands.append(words)
    return commands


@dataclass
class Node:
    cls: str
    knobs: dict          # knob name -> list[Word] (the words after the name)
    order: list          # knob names in file order (user knob declarations included)
    words: list          # the node command's words


def read_script(text: str) -> tuple[list[list[Word]], list[Node]]:
    """All top-level commands, and the node blocks among them (``Class {knobs}``)."""
    commands = split_commands(text)
    nodes = []
    for cmd in commands:
        if len(cmd) >= 2 and cmd[-1].braced and re.fullmatch(r"[A-Z][A-Za-z0-9_]*", cmd[-2].text):
            knobs, order = {}, []
            for line in split_commands(cmd[-1].text):
                knobs.setdefault(line[0].text, line[1:])
                order.append(line[0].text)
            nodes.append(Node(cmd[-2].text, knobs, order, cmd))
    return commands, nodes


# -- curves grammar ----------------------------------------------------------------------------------

class Atom(str):
    """A bare or quoted token of the roto grammar."""

    quoted = False


_TOKEN = re.compile(r'\s*(?:(\{)|(\})|"((?:[^"\\]|\\.)*)"|([^\s{}"]+))', re.S)


def parse_curves(value: str):
    """Nested lists of the roto grammar; raises NkSyntaxError on unbalanced braces."""
    stack = [[]]
    pos, n = 0, len(value)
    while True:
        m = _TOKEN.match(value, pos)
        if not m:
            if value[pos:].strip():
                raise NkSyntaxError(f"unreadable curves text at {pos}: {value[pos:pos + 30]!r}")
            break
        pos = m.end()
        if m.group(1):
            stack.append([])
        elif m.group(2):
            if len(stack) == 1:
                raise NkSyntaxError("unbalanced } in curves")
            done = stack.pop()
            stack[-1].append(done)
        elif m.group(3) is not None:
            atom = Atom(re.sub(r"\\(.)", r"\1", m.group(3), flags=re.S))
            atom.quoted = True
            stack[-1].append(atom)
        else:
            stack[-1].append(Atom(m.group(4)))
        if pos >= n:
            break
    if len(stack) != 1:
        raise NkSyntaxError("unbalanced { in curves")
    return stack[0]


_HEX = re.compile(r"x[0-9a-fA-F]+")


def number(tok) -> float:
    """A roto float token: ``x`` + 8 hex digits (IEEE single, big-endian bits) or a decimal."""
    if not isinstance(tok, str):
        raise NkSyntaxError(f"expected a number, got a group {tok!r}")
    if _HEX.fullmatch(tok):
        if len(tok) != 9:
            raise NkSyntaxError(f"hex float {tok!r} must have 8 digits")
        v = struct.unpack(">f", bytes.fromhex(tok[1:]))[0]
    else:
        try:
            v = float(tok)
        except ValueError:
            raise NkSyntaxError(f"not a number: {tok!r}") from None
    if not math.isfinite(v):
        raise NkSyntaxError(f"non-finite number {tok!r}")
    return v


def _head(group, name):
    return isinstance(group, list) and group and group[0] == name


@dataclass
class CurveShape:
    kind: str                    # curvegroup / cubiccurve
    name: str
    flags: int
    layer: str
    times: np.ndarray | None     # key times (None: not animated)
    values: np.ndarray | None    # (n_times, n_entries, 2), None when expressions are involved
    n_entries: int
    feather: str                 # "idem" or "cc"
    transform: list
    attrs: dict


@dataclass
class CurveTree:
    layers: list                 # (path, flags, attrs)
    shapes: list                 # CurveShape, in file order (top-most first)


def _key_count(dimcurve) -> int | None:
    """Keys of one animated coordinate, run-length groups expanded; None for expressions."""
    items = dimcurve
    if items and isinstance(items[0], str) and items[0].startswith("="):
        return None
    if items and _head(items[0], "f"):
        items = items[1]
    count = 0
    for key in items:
        if not isinstance(key, list) or not key:
            raise NkSyntaxError(f"malformed key {key!r}")
        if key[0] == "x" and len(key) == 3:
            count += int(key[1])
            continue
        number(key[0])
        count += 1
    return count


def _expand(dimcurve, n: int) -> list[float] | None:
    items = dimcurve
    if items and isinstance(items[0], str) and items[0].startswith("="):
        return None
    if items and _head(items[0], "f"):
        items = items[1]
    out = []
    for key in items:
        if key[0] == "x" and len(key) == 3:
            out += [number(key[2][0])] * int(key[1])
        else:
            out.append(number(key[0]))
    return out * n if len(out) == 1 else out


def _entry_values(entry, n_times: int, animated: bool):
    """(n_times, 2) values of one entry, or None when an expression or attribute block is in it.

    Outside ``px`` an entry may hold a free-standing animation curve (time-tagged keys, seen in
    7.0 SplineWarp pins); its keys are not tied to a key-time list, so it is not decoded."""
    if not isinstance(entry, list):
        raise NkSyntaxError(f"entry must be a group, got {entry!r}")
    items = [e for e in entry if not _head(e, "a")]
    if all(isinstance(e, str) for e in items):           # plain {X Y (Z)}, trailing zeros omitted
        vals = [number(e) for e in items[:2]] + [0.0] * (2 - len(items[:2]))
        return np.tile(vals, (n_times, 1))
    cols = []
    for dim in items[:2]:
        if isinstance(dim, str):
            cols.append([number(dim)] * n_times)
            continue
        if not animated:
            return None
        count = _key_count(dim)
        if count is None:
            return None
        if count not in (1, n_times):
            raise NkSyntaxError(f"an animated coordinate has {count} keys for {n_times} key times")
        cols.append(_expand(dim, n_times))
    while len(cols) < 2:
        cols.append([0.0] * n_times)
    return np.array(cols, dtype=np.float64).T


def _points(cc, kind: str, name: str):
    if not (_head(cc, "cc") and len(cc) >= 3 and _head(cc[1], "f")):
        raise NkSyntaxError(f"{name}: malformed cc block")
    int(cc[1][1])
    block = cc[2]
    if _head(block, "p"):
        times, entries = None, block[1:]
    elif _head(block, "px"):
        t = block[1]
        times = np.array([number(x) for x in (t if isinstance(t, list) else [t])])
        if len(times) > 1 and not (np.diff(times) > 0).all():
            raise NkSyntaxError(f"{name}: key times are not increasing")
        entries = block[2:]
    else:
        raise NkSyntaxError(f"{name}: expected p or px")
    n = 1 if times is None else len(times)
    values = [_entry_values(e, n, times is not None) for e in entries]
    if kind == "curvegroup" and len(entries) % 3:
        raise NkSyntaxError(f"{name}: {len(entries)} entries, not three per control point")
    arr = None if any(v is None for v in values) or not values else np.stack(values, axis=1)
    return times, arr, len(entries)


def _attrs(group) -> dict:
    if not _head(group, "a"):
        raise NkSyntaxError(f"expected an attribute block, got {group!r:.60}")
    items = group[1:]
    if len(items) % 2:
        raise NkSyntaxError("attribute block with an odd number of items")
    out = {}
    for k, v in zip(items[::2], items[1::2]):
        out[str(k)] = number(v) if isinstance(v, str) else v
    return out


def _transform(group) -> list:
    if not (_head(group, "t") or _head(group, "tx")):
        raise NkSyntaxError(f"expected a transform, got {group!r:.60}")
    return group


def _walk_layer(layer, path, tree: CurveTree, names: set):
    if not (_head(layer, "layer") and len(layer) >= 5):
        raise NkSyntaxError(f"malformed layer {layer!r:.60}")
    name = str(layer[1])
    if not _head(layer[2], "f"):
        raise NkSyntaxError(f"layer {name}: missing flags")
    _transform(layer[3])
    here = f"{path}/{name}" if path else name
    if name in names:
        raise NkSyntaxError(f"element name {name!r} appears twice")
    names.add(name)
    tree.layers.append((here, int(layer[2][1]), _attrs(layer[4])))
    for child in layer[5:]:
        if _head(child, "layer"):
            _walk_layer(child, here, tree, names)
            continue
        if not (isinstance(child, list) and child and child[0] in ("curvegroup", "cubiccurve")):
            raise NkSyntaxError(f"unknown element in layer {name}: {child!r:.60}")
        kind, cname, flags, _ctype = child[0], str(child[1]), int(child[2]), child[3]
        if cname in names:
            raise NkSyntaxError(f"element name {cname!r} appears twice")
        names.add(cname)
        if kind == "curvegroup":
            pair = child[4]
            if not (isinstance(pair, list) and len(pair) == 2):
                raise NkSyntaxError(f"{cname}: expected main and feather curves")
            times, values, count = _points(pair[0], kind, cname)
            feather = "idem"
            if pair[1] != "idem":
                _, _, fcount = _points(pair[1], kind, cname)
                if fcount != count:
                    raise NkSyntaxError(f"{cname}: feather has {fcount} entries, main {count}")
                feather = "cc"
            rest = child[5:]
        else:
            times, values, count = _points(child[4], kind, cname)
            feather, rest = "none", child[5:]
        if len(rest) != 2:
            raise NkSyntaxError(f"{cname}: expected a transform and attributes")
        tree.shapes.append(CurveShape(kind, cname, flags, here, times, values, count, feather,
                                      _transform(rest[0]), _attrs(rest[1])))


def validate_tree(value: str) -> CurveTree:
    """Parse and check one ``curves`` knob value; returns its layers and shapes."""
    top = parse_curves(value)
    if len(top) != 1 or not isinstance(top[0], list):
        raise NkSyntaxError("the curves knob must hold exactly one tree")
    tree = top[0]
    if not (len(tree) >= 3 and tree[0] == ["v", "x3f99999a"]):
        raise NkSyntaxError(f"tree must start with {{v x3f99999a}}, got {tree[:1]!r:.60}")
    if not _head(tree[1], "f") or not _head(tree[2], "n") or len(tree[2]) != 2:
        raise NkSyntaxError("tree must be {v} {f} {n {layer Root ...}}")
    for extra in tree[3:]:
        if not _head(extra, "edge"):
            raise NkSyntaxError(f"unexpected block after the layer tree: {extra!r:.60}")
    root = tree[2][1]
    if not (_head(root, "layer") and root[1] == "Root"):
        raise NkSyntaxError("the top layer must be Root")
    out = CurveTree([], [])
    _walk_layer(root, "", out, set())
    return out


def roto_nodes(text: str) -> list[tuple[Node, CurveTree]]:
    """Every Roto/RotoPaint/SplineWarp node of a script with its validated curve tree."""
    _, nodes = read_script(text)
    out = []
    for node in nodes:
        if "curves" in node.knobs:
            words = node.knobs["curves"]
            if len(words) != 1 or not words[0].braced:
                raise NkSyntaxError(f"{node.cls}: curves must be one braced word")
            out.append((node, validate_tree(words[0].text)))
    return out
