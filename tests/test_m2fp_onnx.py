"""M2FP through ONNX Runtime (``runtime="onnx"``) against the torch path, on random-weight model folders.

The module shares one export of the tiny model at a small working resolution; frames are resized
to one size so that they all use it. Parity is measured as an outsider would: the selected
instances' masks at frame size and the final per-person part regions, IoU per mask.
"""

import logging
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import need

torch = need("torch")
need("modelscope")
ort = need("onnxruntime")
need("onnx")

from test_m2fp import LOW, cihp_frames  # noqa: E402

from m2fp_roto.cli.main import main  # noqa: E402
from m2fp_roto.errors import InputError  # noqa: E402
from m2fp_roto.m2fp import M2FPParser, describe  # noqa: E402
from m2fp_roto.m2fp.network import WEIGHTS_FILE, fingerprint  # noqa: E402
from m2fp_roto.m2fp.onnx_net import export_name  # noqa: E402
from m2fp_roto.m2fp.parser import network_input  # noqa: E402
from m2fp_roto.m2fp.random_model import write_random_model  # noqa: E402

RES = 256            # the network's short side: small, to keep the exports quick
FRAME = (384, 512)   # every test frame's (W, H): one padded network size, one export


def frames(n):
    return [np.asarray(Image.fromarray(f).resize(FRAME, Image.BILINEAR)) for f in cihp_frames(n)]


def padded_size():
    return tuple(network_input([frames(1)[0]], RES, round(RES * 1333 / 640))[0].shape[-2:])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_random_model(tmp_path_factory.mktemp("m2fp onnx") / "tiny m2fp", "tiny", seed=0)


@pytest.fixture(scope="module")
def parsers(tiny):
    """(torch, onnx) parsers of the tiny model; the onnx one has exported the shared size."""
    onnx = M2FPParser(tiny, runtime="onnx", resolution=RES, **LOW)
    onnx.parse(frames(1)[0], 1)
    return M2FPParser(tiny, resolution=RES, **LOW), onnx


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def copy_model(src, dest):
    dest.mkdir()
    for name in ("configuration.json", WEIGHTS_FILE):
        shutil.copyfile(src / name, dest / name)
    return dest


def test_onnx_parses_like_torch(parsers):
    ref, fast = parsers
    ious, regions = [], 0
    for n, rgb in enumerate(frames(2), 1):
        a, b = ref.instances(rgb), fast.instances(rgb)
        assert a.labels.tolist() == b.labels.tolist() and a.queries.tolist() == b.queries.tolist()
        np.testing.assert_allclose(b.scores.numpy(), a.scores.numpy(), atol=1e-4)
        kept = torch.tensor([i for i in range(len(a)) if float(a.scores[i]) >= 0.05])
        for ma, mb in zip(a.full_masks(kept, rgb.shape[:2]).numpy(), b.full_masks(kept, rgb.shape[:2]).numpy()):
            if ma.any():
                ious.append(iou(ma, mb))
        pa, pb = ref.parse(rgb, n), fast.parse(rgb, n)
        assert pa.person_ids == pb.person_ids and len(pa.person_ids) >= 2
        ra = {(r.person, r.part): r.frame_mask(pa.shape) for r in pa.regions()}
        rb = {(r.person, r.part): r.frame_mask(pb.shape) for r in pb.regions()}
        assert ra.keys() == rb.keys()
        for key, m in ra.items():
            regions += 1
            assert iou(m, rb[key]) >= 0.99, (n, key, m.sum())
        assert pa.scores == pytest.approx(pb.scores, abs=1e-4)
        assert np.abs(pa.part_logits.astype(np.float32) - pb.part_logits).max() < 0.02
    assert len(ious) >= 30 and min(ious) >= 0.99 and regions >= 10, (len(ious), min(ious), regions)


def test_the_export_is_cached_beside_the_model_and_reused(tiny, parsers, caplog):
    name = export_name(fingerprint(tiny), padded_size())
    cached = tiny / "onnx" / name
    assert sorted(p.name for p in (tiny / "onnx").iterdir()) == [name]
    before = os.stat(cached)
    with caplog.at_level(logging.INFO, logger="m2fp_roto"):
        again = M2FPParser(tiny, runtime="onnx", resolution=RES, **LOW).parse(frames(1)[0], 1)
    assert "exporting" not in caplog.text
    assert (os.stat(cached).st_ino, os.stat(cached).st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert (again.parts == parsers[1].parse(frames(1)[0], 1).parts).all()
    assert ort.InferenceSession(str(cached)).get_inputs()[0].shape == [1, 3, *padded_size()]


def test_read_only_model_folder_exports_into_the_user_cache(tiny, parsers, tmp_path, monkeypatch):
    folder = copy_model(tiny, tmp_path / "model share")
    # A model share the tool cannot write to: 'onnx' is taken by a file (tests run as root, whom
    # permission bits do not stop).
    (folder / "onnx").write_text("not a folder")
    monkeypatch.setenv("M2FP_ROTO_CACHE", str(tmp_path / "farm cache"))
    parsing = M2FPParser(folder, runtime="onnx", resolution=RES, **LOW).parse(frames(1)[0], 1)
    exported = tmp_path / "farm cache" / "onnx" / export_name(fingerprint(tiny), padded_size())
    assert exported.is_file() and (folder / "onnx").read_text() == "not a folder"
    assert (parsing.parts == parsers[1].parse(frames(1)[0], 1).parts).all()


def test_copied_changed_and_unreadable_exports(tiny, parsers, tmp_path, caplog):
    folder = copy_model(tiny, tmp_path / "copy")
    (folder / "onnx").mkdir()
    old = folder / "onnx" / export_name(fingerprint(tiny), padded_size())
    shutil.copyfile(tiny / "onnx" / old.name, old)
    rgb = frames(1)[0]
    with caplog.at_level(logging.INFO, logger="m2fp_roto"):
        M2FPParser(folder, runtime="onnx", resolution=RES, **LOW).parse(rgb, 1)
    assert "exporting" not in caplog.text  # same weights, same export, wherever the folder is

    write_random_model(tmp_path / "retrained", "tiny", seed=1)
    shutil.copyfile(tmp_path / "retrained" / WEIGHTS_FILE, folder / WEIGHTS_FILE)
    retrained = M2FPParser(folder, runtime="onnx", resolution=RES, **LOW)
    first = retrained.parse(rgb, 1)
    new = folder / "onnx" / export_name(fingerprint(folder), padded_size())
    assert sorted((folder / "onnx").iterdir()) == [new]  # the stale export is gone
    assert first.parts.tolist() != parsers[1].parse(rgb, 1).parts.tolist()

    new.write_bytes(b"half a file from a disk that filled up")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="m2fp_roto"):
        again = M2FPParser(folder, runtime="onnx", resolution=RES, **LOW).parse(rgb, 1)
    assert "cannot be loaded" in caplog.text and "exporting" in caplog.text
    assert new.stat().st_size > 1_000_000 and (again.parts == first.parts).all()


def test_runtime_settings_and_options(tiny):
    assert M2FPParser(tiny, runtime="onnx").settings["runtime"] == "onnx"
    assert M2FPParser(tiny).settings["runtime"] == "torch"
    for kwargs in ({"runtime": "tensorrt"}, {"runtime": "onnx", "precision": "bf16"},
                   {"runtime": "onnx", "device": "cuda"}):
        with pytest.raises(InputError):
            M2FPParser(tiny, **kwargs)
    info = describe()["onnxruntime"]
    assert info.startswith(ort.__version__) and "CPUExecutionProvider" in info


def test_parse_command_with_the_onnx_runtime(tiny, parsers, tmp_path):
    plate = tmp_path / "plate"
    plate.mkdir()
    for n, rgb in enumerate(frames(2), 1001):
        Image.fromarray(rgb).save(plate / f"shot.{n}.png")
    cache = tmp_path / "cache"
    result = CliRunner().invoke(main, ["parse", str(plate / "shot.####.png"), "--model", str(tiny), "--runtime",
                                       "onnx", "--resolution", str(RES), "--cache", str(cache)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2 parsed" in result.output
    (settings,) = cache.glob("*/settings.json")
    assert '"runtime": "onnx"' in settings.read_text()
    assert sorted(p.name for p in settings.parent.glob("*.npz")) == ["1001.npz", "1002.npz"]
