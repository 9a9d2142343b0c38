"""Installed package versions, for ``m2fp-roto doctor`` and provenance."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def installed_version(*dists: str, missing: str = "not installed") -> str:
    """The version of the first of ``dists`` (distribution names) that is installed, else ``missing``."""
    for dist in dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return missing
