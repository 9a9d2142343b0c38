"""A name or path in a RotoDocument must never be able to run TCL when Nuke loads the .nk.

The strong check hands our files to real TCL (``tclsh``): the script is evaluated in a safe
interpreter whose every command is hidden, except recorders for the node commands; node bodies
are evaluated the same way with ``unknown`` recording each knob line. Any command substitution
would show up as an extra recorded command (or fail), any variable substitution would fail, and
every recorded word must come back byte for byte.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from conftest import need_program
from m2fp_roto.document import RotoDocument, Shape
from m2fp_roto_exporters import nuke
from m2fp_roto_exporters.nk_text import curve_name, tcl_word
from support import nk_reader

HOSTILE = [
    "[exec rm -rf /]", "$env(HOME)", "}{", '"', "\\", "\n", "\\\n", "{", "}", ";", "'", " ", "\t", "\r",
    "x}; exec touch /tmp/pwned; {", '" ; exec ls "', "]]][[", "\\}", "\\{", "${x}", "\x01", "ünï ✓",
    "p1_[exec rm -rf /] $env(HOME) }{ \" \\ \n end",
]

TCL_HARNESS = r"""
proc hex {s} { binary encode hex [encoding convertto utf-8 $s] }
proc record {args} { puts [join [lmap w $args {hex $w}] " "] }
proc sandbox {} {
    set i [interp create -safe]
    foreach c [$i eval {info commands}] { $i hide $c }
    return $i
}
proc node {cls body} {
    puts "NODE [hex $cls]"
    set i [sandbox]
    interp alias $i unknown {} record
    $i invokehidden eval $body
    interp delete $i
}
proc version {args} { puts "VERSION [join $args { }]" }
set f [open [lindex $argv 0] r]
fconfigure $f -encoding utf-8
set script [read $f]
close $f
set top [sandbox]
foreach cls {Root Roto} { interp alias $top $cls {} node $cls }
interp alias $top version {} version
$top invokehidden eval $script
"""

TCL_CURVE_NAMES = r"""
proc hex {s} { binary encode hex [encoding convertto utf-8 $s] }
proc walk {lst} {
    if {[catch {llength $lst} n] || $n == 0} { return }
    if {$n == 1} {
        set inner [lindex $lst 0]
        if {$inner ne $lst} { walk $inner }
        return
    }
    if {[lindex $lst 0] in {curvegroup layer}} { puts [hex [lindex $lst 1]] }
    foreach el $lst { walk $el }
}
set f [open [lindex $argv 0] r]
fconfigure $f -encoding utf-8
walk [read $f]
close $f
"""


def hostile_document() -> RotoDocument:
    evil = "".join(HOSTILE)
    doc = RotoDocument(width=64, height=48, first_frame=1, last_frame=2, source="/shots/" + evil + ".exr",
                       plate="/plates/" + evil + ".####.exr")
    pts = np.array([[10, 10, 0, 0, 0, 0], [20, 10, 0, 0, 0, 0], [15, 20, 0, 0, 0, 0]], float)
    for i, h in enumerate(HOSTILE + [evil]):
        doc.shapes.append(Shape.static(f"p1_{i}{h}", 1, "face", 1, 2, pts + i))
    return doc.validate()


def written_name(name: str) -> str:
    """Shape names keep every character but the control ones the roto grammar cannot carry."""
    return "".join("\ufffd" if (ord(c) < 0x20 and c not in "\n\t") or ord(c) == 0x7F else c for c in name)


def _unhex(line: str) -> list[str]:
    return [bytes.fromhex(w).decode("utf-8") for w in line.split()]


@pytest.mark.parametrize("text", HOSTILE + ["".join(HOSTILE), "", "plain_name"])
def test_tcl_words_and_curve_names_read_back_verbatim_in_the_reader(text):
    ((word,),) = nk_reader.split_commands(tcl_word(text))
    assert word.text == text and not word.substitutions
    tree = nk_reader.parse_curves("{layer " + curve_name(text) + "}")
    assert tree[0][1] == written_name(text)


def test_hostile_names_and_paths_survive_the_reader():
    doc = hostile_document()
    text = nuke.write_to_string(doc, group="all")
    commands, nodes = nk_reader.read_script(text)
    assert not [w for c in commands for w in c if w.substitutions]
    roto = nodes[1]
    assert roto.knobs["m2fp_source"][0].text == doc.source
    assert roto.knobs["m2fp_plate"][0].text == doc.plate
    tree = nk_reader.validate_tree(roto.knobs["curves"][0].text)
    assert [s.name for s in tree.shapes] == [written_name(s.name) for s in doc.shapes]
    assert roto.order[-1] == "m2fp_plate"   # no knob swallowed or invented by a stray brace


def test_real_tcl_parses_hostile_script_without_substituting_anything(tmp_path):
    tclsh = need_program("tclsh", "apt-get install tcl")
    doc = hostile_document()
    path = tmp_path / "evil.nk"
    nuke.write_to_file(doc, path, group="per-person")
    harness = tmp_path / "harness.tcl"
    harness.write_text(TCL_HARNESS)
    run = subprocess.run([tclsh, str(harness), str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "VERSION " + nuke.NUKE_VERSION
    nodes, current = [], None
    for line in lines[1:]:
        if line.startswith("NODE "):
            current = (_unhex(line[5:])[0], [])
            nodes.append(current)
        else:
            current[1].append(_unhex(line))
    assert [cls for cls, _ in nodes] == ["Root", "Roto"]
    knobs = [k[0] for k in nodes[1][1]]
    assert knobs == ["inputs", "output", "format", "curves", "name", "xpos", "ypos", "addUserKnob",
                     "addUserKnob", "m2fp_people", "addUserKnob", "m2fp_source", "addUserKnob", "m2fp_plate"]
    values = {k[0]: k[1:] for k in nodes[1][1]}
    assert values["m2fp_source"] == [doc.source] and values["m2fp_plate"] == [doc.plate]
    # the curves word, as TCL delivers it, is what our reader parses; TCL lists agree on every name
    curves = values["curves"][0]
    ours = [s.name for s in nk_reader.validate_tree(curves).shapes]
    assert ours == [written_name(s.name) for s in doc.shapes]
    (tmp_path / "curves.txt").write_text(curves, encoding="utf-8")
    (tmp_path / "names.tcl").write_text(TCL_CURVE_NAMES)
    walk = subprocess.run([tclsh, str(tmp_path / "names.tcl"), str(tmp_path / "curves.txt")],
                          capture_output=True, text=True, timeout=60)
    assert walk.returncode == 0, walk.stderr
    names = [_unhex(line)[0] for line in walk.stdout.splitlines()]
    assert names == ["Root", "p1"] + [written_name(s.name) for s in doc.shapes]


def test_the_harness_does_catch_an_unescaped_word(tmp_path):
    """The check above must be able to fail: a raw bracket in a knob runs a command."""
    tclsh = need_program("tclsh", "apt-get install tcl")
    path = tmp_path / "bad.nk"
    path.write_text('version 12.2 v5\nRoto {\n label "[exec touch pwned]"\n}\n')
    harness = tmp_path / "harness.tcl"
    harness.write_text(TCL_HARNESS)
    run = subprocess.run([tclsh, str(harness), str(path)], capture_output=True, text=True, timeout=60)
    recorded = [_unhex(line) for line in run.stdout.splitlines()[2:]]
    assert ["exec", "touch", "pwned"] in recorded
    assert json.dumps(recorded)  # plain data only
