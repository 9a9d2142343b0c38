"""Shared fixtures and the rules for what a test may skip.

Real data lives beside the checkout in ../shared/data (read-only, never copied). A contributor
without it, or without an optional dependency (Node.js, torch, OpenImageIO ...), gets a skip
that says what is missing; under CI (``CI=true``) the same absence is a failure, so a missing
install step can never pass as a green run.
"""

import importlib
import os
import shutil
from pathlib import Path

import pytest

# Fixtures shared by several modules: the jsx harness and panel_shot; the farm tests' shots and model.
pytest_plugins = ["support.ae_node", "support.farm_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str):
    """Skip with ``reason`` on a contributor's machine; fail under CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: every test dependency must be installed)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def shared_path(*parts) -> Path:
    """A path under ../shared, or (see :func:`missing`) the reason it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        missing(f"shared test data not found: {path}")
    return path


def need(module: str, install: str = "pip install -e '.[test,m2fp-test]'"):
    """Import a third-party ``module`` a test needs, or (see :func:`missing`) say how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing(f"{module} is not installed ({exc}): {install}")


def need_program(name: str, install: str) -> str:
    """The path of the program ``name``, or (see :func:`missing`) say how to get it."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed: {install}")
    return path


@pytest.fixture(autouse=True)
def signal_dispositions():
    """SIGINT and SIGTERM as they were before each test. The CLI run in-process (click's
    CliRunner runs it as a program's entry point) leaves both ignored, as a real process about
    to exit should; a test process would then hand that on to every process it starts later,
    which could no longer be stopped by a signal."""
    import signal

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in before.items():
        signal.signal(s, handler)


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(scope="session")
def model_server(tmp_path_factory):
    """``m2fp-roto serve`` (2 workers) on the random-weight tiny M2FP model, shared by the
    service's model and page tests: each worker process imports torch and loads the model once."""
    from support.serve_harness import model_server as start

    with start(tmp_path_factory) as server:
        yield server
