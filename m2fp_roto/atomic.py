"""Atomic writes: a crash, a kill or a full disk never leaves a half-written output behind.

Every file the tool writes goes through :func:`atomic_path`, so :func:`recording` can say
exactly which outputs a command completed when it is interrupted (a farm's SIGTERM, Ctrl-C).
"""

from __future__ import annotations

import errno
import os
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path

_recorders: list[list[Path]] = []
_lock = threading.Lock()


@contextmanager
def recording():
    """Collect, in a list, every path an atomic write completes inside the block (any thread)."""
    done: list[Path] = []
    with _lock:
        _recorders.append(done)
    try:
        yield done
    finally:
        with _lock:
            _recorders.remove(done)


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    The temporary file keeps the target's suffix so that writers which pick a format by
    extension (OpenEXR, Pillow) still see it. On error or interrupt the temporary file is
    removed and the old ``path``, if any, is untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file stands where a folder of the path should be
        blocker = next(p for p in path.parents if p.exists())
        raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder", str(blocker)) from None
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file name", str(path))
    tmp = private_name(path.parent, f".{path.stem}.", f".tmp{path.suffix}")
    try:
        create_new(tmp)
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with _lock:
        for done in _recorders:
            done.append(path)


def private_name(folder: Path, prefix: str, suffix: str) -> Path:
    """A file name in ``folder`` that no other process uses (this one's id and a random part).

    Known before the file exists, so that whoever makes the file can remove it after an
    interrupt at any step (a signal raises between any two lines); ``tempfile.mkstemp`` gives
    the name only once the file is made.
    """
    return Path(folder) / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def create_new(path: Path) -> None:
    """Make ``path`` as an empty file, failing if it exists; mode 0666 less the umask, as for
    any new file (outputs are shared on a farm)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_bytes(path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)
