"""A stand-in for Nuke's ``nuke`` module that records what the Nuke-side code asks of it.

Only what m2fp_roto_nuke uses is here, with Nuke's behaviour where it matters: ``nodePaste``
reads the file and creates one node per node block, selected (as Nuke selects pasted nodes);
``ProgressTask`` is cancelled by the test through ``cancel_after``; ``message`` is recorded.
"""

from __future__ import annotations

import types

from support import nk_reader


class FakeKnob:
    def __init__(self, value):
        self._value = value

    def value(self):
        return self._value

    def setValue(self, value):  # noqa: N802  (Nuke's spelling)
        self._value = value


class FakeFormat:
    def __init__(self, width=1920, height=1080, pixel_aspect=1.0):
        self._w, self._h, self._pa = width, height, pixel_aspect

    def width(self):
        return self._w

    def height(self):
        return self._h

    def pixelAspect(self):  # noqa: N802
        return self._pa


class FakeNode:
    def __init__(self, cls, name, knobs=None, xpos=0, ypos=0, format=None):
        self._cls, self._name, self._selected = cls, name, False
        self._format = format or FakeFormat()
        self._knobs = {k: FakeKnob(v) for k, v in (knobs or {}).items()}
        self._x, self._y = xpos, ypos

    def Class(self):  # noqa: N802
        return self._cls

    def name(self):
        return self._name

    def __getitem__(self, knob):
        return self._knobs[knob]

    def knobs(self):
        return dict(self._knobs)

    def format(self):
        return self._format

    def setSelected(self, value):  # noqa: N802
        self._selected = bool(value)

    def isSelected(self):  # noqa: N802
        return self._selected

    def xpos(self):
        return self._x

    def ypos(self):
        return self._y

    def setXYpos(self, x, y):  # noqa: N802
        self._x, self._y = x, y


class FakeMenu:
    def __init__(self, name, log):
        self.name, self.items, self._log = name, {}, log

    def addMenu(self, name):  # noqa: N802
        self._log.append(("addMenu", self.name, name))
        return self.items.setdefault(name, FakeMenu(name, self._log))

    def addCommand(self, name, command=None, *args, **kwargs):  # noqa: N802
        self._log.append(("addCommand", self.name, name))
        self.items[name] = command
        return command


class FakeProgressTask:
    def __init__(self, nuke, title):
        self.title, self.progress, self.messages, self._nuke = title, [], [], nuke
        nuke.tasks.append(self)

    def setProgress(self, pct):  # noqa: N802
        self.progress.append(int(pct))

    def setMessage(self, text):  # noqa: N802
        self.messages.append(text)

    def isCancelled(self):  # noqa: N802
        after = self._nuke.cancel_after
        return after is not None and len(self.progress) >= after


def make_fake_nuke() -> types.ModuleType:
    """A fresh fake ``nuke`` module; its recordings are attributes of the module."""
    nuke = types.ModuleType("nuke")
    nuke.GUI = True
    nuke.nodes_in_script, nuke.calls, nuke.tasks, nuke.messages, nuke.pasted = [], [], [], [], []
    nuke.cancel_after = None
    nuke.next_filename = None
    nuke.plugin_paths = []
    menus = {}

    def menu(name):
        nuke.calls.append(("menu", name))
        return menus.setdefault(name, FakeMenu(name, nuke.calls))

    def node_paste(path):
        nuke.calls.append(("nodePaste", path))
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        nuke.pasted.append(text)
        for node in nk_reader.read_script(text)[1]:
            name = node.knobs.get("name", [nk_reader.Word(node.cls + "1")])[0].text
            new = FakeNode(node.cls, name, {k: v[0].text for k, v in node.knobs.items() if v})
            new.setSelected(True)
            nuke.nodes_in_script.append(new)
        return None

    def message(text):
        nuke.calls.append(("message", text))
        nuke.messages.append(text)

    def filename(node, *args):
        return node["file"].value()

    nuke.menu = menu
    nuke.nodePaste = node_paste
    nuke.message = message
    nuke.filename = filename
    nuke.selectedNodes = lambda: [n for n in nuke.nodes_in_script if n.isSelected()]
    nuke.allNodes = lambda: list(nuke.nodes_in_script)
    nuke.ProgressTask = lambda title: FakeProgressTask(nuke, title)
    nuke.getFilename = lambda *args, **kw: nuke.next_filename
    nuke.pluginAddPath = lambda path: nuke.plugin_paths.append(path)
    root = FakeNode("Root", "root", {"fps": 24.0, "first_frame": 1, "last_frame": 100})
    nuke.root = lambda: root
    nuke.FakeNode, nuke.FakeFormat = FakeNode, FakeFormat
    return nuke
