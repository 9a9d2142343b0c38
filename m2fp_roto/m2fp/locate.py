"""Where the M2FP model folder is: option > $M2FP_ROTO_MODEL > ModelScope cache > hub download.

Render nodes are often offline. Nothing here waits on the network for long: the hub is tried
only after a short reachability probe (or never, with ``M2FP_ROTO_OFFLINE=1``), and every
failure says how to bring the model onto the machine.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ..errors import RotoError

log = logging.getLogger("m2fp_roto")

MODEL_ID = "damo/cv_resnet101_image-multiple-human-parsing"
REVISION = "v1.0.1"
ENV_MODEL = "M2FP_ROTO_MODEL"
ENV_OFFLINE = "M2FP_ROTO_OFFLINE"
PROBE_TIMEOUT = 2.5  # seconds; a reachable hub answers well within this

HOW_TO = (f"on a machine with internet run `modelscope download {MODEL_ID} --revision {REVISION} "
          f"--local-dir m2fp-multi`, copy the m2fp-multi folder here, and pass it with --model "
          f"or set {ENV_MODEL}=/path/to/m2fp-multi")


class ModelNotFound(RotoError):
    """No usable M2FP model folder, and none could be downloaded."""


def _is_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~")) and "\\" not in text


def _folder(path: Path, what: str) -> Path:
    from .network import CONFIG_FILE, WEIGHTS_FILE

    path = path.expanduser()
    if not path.is_dir():
        raise ModelNotFound(f"{what} {path} is not a folder; {HOW_TO}")
    missing = [n for n in (CONFIG_FILE, WEIGHTS_FILE) if not (path / n).is_file()]
    if missing:
        raise ModelNotFound(f"{what} {path} lacks {' and '.join(missing)}; {HOW_TO}")
    return path.resolve()


def _cache_root() -> str | None:
    # Read at each call: the hub client reads MODELSCOPE_CACHE only once, at its import.
    return os.environ.get("MODELSCOPE_CACHE") or None


def cached_model(model_id: str = MODEL_ID, revision: str | None = REVISION) -> Path | None:
    """The model's folder in the ModelScope cache (``MODELSCOPE_CACHE``), never downloading."""
    try:
        from modelscope.hub.snapshot_download import snapshot_download
    except ImportError:
        return None
    try:
        found = snapshot_download(model_id, revision=revision, local_files_only=True, cache_dir=_cache_root())
    except Exception as exc:  # the hub client raises its own CacheNotFound / ValueError kinds
        log.debug("%s is not in the ModelScope cache: %s", model_id, exc)
        return None
    return Path(found)


def offline_reason() -> str | None:
    """Why no download will be tried (None when the hub answers within PROBE_TIMEOUT)."""
    if os.environ.get(ENV_OFFLINE, "").strip() not in ("", "0"):
        return f"{ENV_OFFLINE} is set"
    try:
        from modelscope_hub.config import HubConfig

        endpoint = HubConfig().endpoint  # fresh: reads $MODELSCOPE_ENDPOINT now
    except Exception as exc:
        return f"the ModelScope hub client is not usable ({exc})"
    # In a thread so that nothing (not even a slow DNS resolver) holds the run past the timeout.
    result: list = []
    probe = threading.Thread(target=lambda: result.append(_probe(endpoint)), daemon=True)
    probe.start()
    probe.join(PROBE_TIMEOUT)
    # The request's own timeout is the same as the wait's, so either may end it first.
    if not result or result[0] is SILENT:
        return f"the ModelScope hub ({endpoint}) did not answer within {PROBE_TIMEOUT:g} s"
    return result[0] and f"the ModelScope hub ({endpoint}) is unreachable: {result[0]}"


SILENT = "silent"  # what _probe says of a hub that does not answer in time


def _probe(endpoint: str) -> str | None:
    """None if ``endpoint`` answers HTTP at all, ``SILENT`` if it does not within
    ``PROBE_TIMEOUT``, else why not."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=PROBE_TIMEOUT)
    except urllib.error.HTTPError:
        return None  # it answered
    except Exception as exc:
        reason = getattr(exc, "reason", exc)
        return SILENT if isinstance(reason, TimeoutError) else str(reason)
    return None


def download_model(model_id: str = MODEL_ID, revision: str | None = REVISION) -> Path:
    """Download into the ModelScope cache (progress bars on the terminal) and return the folder."""
    from modelscope.hub.snapshot_download import snapshot_download

    log.warning("downloading %s (%s) from the ModelScope hub into the ModelScope cache; the "
                "weights are about 700 MB and licensed CC BY-NC 4.0 (non-commercial)", model_id, revision)
    try:
        return Path(snapshot_download(model_id, revision=revision, cache_dir=_cache_root()))
    except Exception as exc:
        raise ModelNotFound(f"downloading {model_id} failed ({exc}); {HOW_TO}") from None


def locate_model(model=None, *, download: bool = True) -> Path:
    """The M2FP model folder to load.

    Parameters
    ----------
    model : path or hub id, optional
        A model folder (``configuration.json`` + ``pytorch_model.pt``) or a ModelScope model id.
        Without it, ``$M2FP_ROTO_MODEL`` is used the same way, then the ModelScope cache entry of
        the published model, then (if ``download``) a download of it when the hub is reachable.

    Raises
    ------
    ModelNotFound
        With instructions for getting the model onto this machine.
    """
    for value, what in ((model, "model"), (os.environ.get(ENV_MODEL) or None, f"${ENV_MODEL}")):
        if value is None:
            continue
        text = os.fspath(value)
        if Path(text).expanduser().exists() or not _is_hub_id(text):
            return _folder(Path(text), what)
        return _from_hub(text, None, download)
    return _from_hub(MODEL_ID, REVISION, download, "no M2FP model given and")


def _from_hub(model_id: str, revision: str | None, download: bool, lead: str = "") -> Path:
    found = cached_model(model_id, revision)
    if found is not None:
        return _folder(found, "cached model")
    lead = lead or f"{model_id} is no folder here and"
    if not download:
        raise ModelNotFound(f"{lead} {model_id} is not in the ModelScope cache; {HOW_TO}")
    why = offline_reason()
    if why:
        raise ModelNotFound(f"{lead} {model_id} is not in the ModelScope cache, and {why}; {HOW_TO}")
    return _folder(download_model(model_id, revision), "downloaded model")
