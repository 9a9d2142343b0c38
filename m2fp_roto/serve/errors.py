"""The one error type of the service: an HTTP status and a message, answered as JSON."""

from __future__ import annotations


class ApiError(Exception):
    """Answered as ``{"status": "error", "message": ...}`` with ``status`` as the HTTP code.

    ``headers`` go with the answer (e.g. ``Retry-After`` on 429).
    """

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def megapixels(n: int) -> str:
    return f"{n / 1e6:.3g} megapixels"


def megabytes(n: int) -> str:
    return f"{n / 1e6:.3g} MB"
