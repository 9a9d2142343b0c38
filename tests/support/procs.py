"""Processes as Linux's /proc lists them, for tests that check what a command leaves running."""

from __future__ import annotations

from pathlib import Path

# Fields of /proc/PID/stat after the command name: 0 state, 1 parent pid, 3 session id.
STATE, PARENT, SESSION = 0, 1, 3


def processes(field: int, value: int) -> list[int]:
    """Pids of the live (not zombie) processes whose stat ``field`` equals ``value``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended while we looked
            continue
        if int(fields[field]) == value and fields[STATE] != "Z":
            found.append(int(stat.parent.name))
    return found
