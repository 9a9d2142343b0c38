"""Fixtures the cluster and farm tests share (imported into each module; one per session)."""

from __future__ import annotations

import pytest

from conftest import need, shared_path
from support.farm_shots import write_pan

FRAMES = list(range(1001, 1007))  # the label-map shots
MODEL_FRAMES = FRAMES[:4]  # the model shot: a few small frames (the model is slow on 2 cores)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The random-weight M2FP model folder (real architecture and loading code)."""
    need("torch")
    need("modelscope")
    from m2fp_roto.m2fp.random_model import write_random_model

    return write_random_model(tmp_path_factory.mktemp("m2fp") / "tiny m2fp", "tiny", seed=0)


@pytest.fixture(scope="session")
def model_plate(tmp_path_factory):
    """A 4-frame plate folder: a quarter of a real CIHP photo (125x83), panning 3 px a frame."""
    root = tmp_path_factory.mktemp("model shot")
    write_pan(root, shared_path("data", "cihp_train_slice"), MODEL_FRAMES, scale=4, step=3, labels=False)
    return root / "plate"


@pytest.fixture(scope="session")
def labels_folder(tmp_path_factory):
    """A 6-frame label-map shot: the real CIHP part and person maps of a photo, panning 5 px a frame."""
    return write_pan(tmp_path_factory.mktemp("labels shot"), shared_path("data", "cihp_train_slice"), FRAMES,
                     plate=False)
