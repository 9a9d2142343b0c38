"""The worker's one M2FP model: loaded once in the background, shared by every request, which
wait for it in a bounded queue.

Without the backend or the weights the service still runs: :attr:`ModelHolder.state` is
``"missing"`` and :attr:`ModelHolder.message` says how to install them; the page, ``/api/health``
and the 503 of ``/api/parse`` show that text.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from contextlib import contextmanager

from ..errors import RotoError
from .errors import ApiError

log = logging.getLogger("m2fp_roto")

INSTALL = ("pip install 'm2fp-roto[m2fp]', then get the weights (README, 'M2FP model') and start the "
           "server with --model /path/to/m2fp-multi or M2FP_ROTO_MODEL set")


class ModelHolder:
    """One parser per worker process.

    Parameters
    ----------
    options : dict
        ``make_parser``'s arguments (``model``, ``device``, ``precision``, ...).
    queue : int
        Requests that may wait for the model at once; one more is answered 429.
    """

    def __init__(self, options: dict, queue: int):
        self.options, self.limit = dict(options), queue
        self.state, self.message, self.path = "loading", "the model is loading", None
        self.parser = None
        self.waiting = 0
        self._loaded = threading.Event()
        self._lock = threading.Lock()  # one inference at a time; torch uses its own threads inside
        self._seconds = deque([1.0], maxlen=32)  # recent parse times, for Retry-After

    # -- loading -----------------------------------------------------------------------
    def start(self) -> None:
        threading.Thread(target=self._load, name="m2fp-load", daemon=True).start()

    def _load(self) -> None:
        from ..cli.plate import make_parser
        from ..m2fp import locate_model
        from ..m2fp.parser import require_backend

        t = time.perf_counter()
        try:
            require_backend()
            self.path = locate_model(self.options.get("model"), download=False)  # a server never downloads
            parser = make_parser(**{**self.options, "model": str(self.path)})
            parser.net  # noqa: B018  (load the weights now, not on the first request)
            self.parser, self.state = parser, "ready"
            self.message = f"M2FP loaded from {self.path} in {time.perf_counter() - t:.1f} s"
            log.info("%s", self.message)
        except RotoError as exc:
            self.state, self.message = "missing", str(exc)
            log.warning("no model: %s", self.message)
        except Exception as exc:  # a broken weights file or an incompatible torch
            self.state, self.message = "error", f"the model failed to load ({type(exc).__name__}: {exc})"
            log.exception("model load failed")
        finally:
            self._loaded.set()

    async def wait_loaded(self) -> None:
        if not self._loaded.is_set():
            await asyncio.get_running_loop().run_in_executor(None, self._loaded.wait)

    def unavailable(self) -> ApiError:
        return ApiError(503, f"the M2FP model is not available on this server: {self.message}. "
                             "Label-map and matte jobs (POST /api/jobs) still work.")

    def describe(self) -> dict:
        return {"state": self.state, "message": self.message, "path": self.path and str(self.path),
                "device": self.options.get("device", "cpu"), "precision": self.options.get("precision", "fp32"),
                "resolution": self.options.get("resolution"), "install": None if self.state == "ready" else INSTALL}

    # -- requests ----------------------------------------------------------------------
    @contextmanager
    def admitted(self):
        """A place in the queue for the model, or 429 with a Retry-After estimate."""
        if self.waiting >= self.limit:
            retry = max(1, math.ceil(sum(self._seconds) / len(self._seconds) * self.waiting))
            raise ApiError(429, f"the server is busy: {self.waiting} requests are waiting for the model "
                                f"(--queue {self.limit}); retry in about {retry} s", {"Retry-After": str(retry)})
        self.waiting += 1
        try:
            yield
        finally:
            self.waiting -= 1

    def parse(self, rgb, frame: int = 1):
        """Parse one frame (call from a worker thread); returns the Parsing and the seconds it
        waited for the model and ran on it."""
        if self.parser is None:
            raise self.unavailable()
        t0 = time.perf_counter()
        with self._lock:
            t1 = time.perf_counter()
            parsing = self.parser.parse(rgb, frame)
        t2 = time.perf_counter()
        self._seconds.append(t2 - t1)
        return parsing, t1 - t0, t2 - t1
