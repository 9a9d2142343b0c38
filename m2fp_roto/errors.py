"""Errors that are the user's to fix: the CLI prints them as one line, never a traceback."""


class RotoError(Exception):
    """Base of every error caused by input, options or the environment (not by a bug)."""


class InputError(RotoError, ValueError):
    """Unreadable, missing or inconsistent input: a frame, a file, a pattern, an option."""


class FrameSkipped(InputError):
    """A frame that a source drops because it cannot be read and ``--skip-missing`` is on."""
