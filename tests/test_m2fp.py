"""The M2FP backend on model folders the tests build themselves (real architecture, random weights).

The trained weights are only on the ModelScope hub, so these tests exercise the real loading,
network and post-processing code on seeded random weights whose class biases make instances fire.
"""

import glob
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import need, shared_path

torch = need("torch")
need("modelscope")

from m2fp_roto.errors import InputError, RotoError  # noqa: E402
from m2fp_roto.m2fp import M2FPParser, ModelLoadError, ModelNotFound, describe, locate_model  # noqa: E402
from m2fp_roto.m2fp.deform_attn import multi_scale_deformable_attn  # noqa: E402
from m2fp_roto.m2fp.locate import MODEL_ID, REVISION  # noqa: E402
from m2fp_roto.m2fp.network import WEIGHTS_FILE, load_network, read_state_dict  # noqa: E402
from m2fp_roto.m2fp.postprocess import Instances, assign_people  # noqa: E402
from m2fp_roto.m2fp.random_model import model_config, write_random_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LOW = dict(part_threshold=0.05, person_threshold=0.05)  # random weights score low


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_random_model(tmp_path_factory.mktemp("m2fp") / "tiny m2fp", "tiny", seed=0)


@pytest.fixture(scope="module")
def parser(tiny):
    return M2FPParser(tiny, **LOW)


def cihp_frames(n):
    folder = shared_path("data", "cihp_train_slice", "Images")
    files = sorted(glob.glob(str(folder / "*.jpg")))[:n]
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


@pytest.fixture
def no_model_env(monkeypatch, tmp_path):
    monkeypatch.delenv("M2FP_ROTO_MODEL", raising=False)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "empty cache"))


# ---------------------------------------------------------------------------------------------
# Import weight, locating the model


def test_importing_the_package_and_backend_loads_no_torch():
    code = ("import sys, m2fp_roto, m2fp_roto.m2fp; "
            "assert not {'torch', 'modelscope', 'mmcv', 'onnx', 'onnxruntime'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_explicit_option_beats_env_beats_cache(tiny, tmp_path, monkeypatch):
    other = write_random_model(tmp_path / "other", "tiny", seed=1)
    cache = tmp_path / "cache"
    snap = cache / "models" / MODEL_ID.replace("/", "--") / "snapshots" / REVISION
    snap.mkdir(parents=True)
    for name in os.listdir(other):
        (snap / name).symlink_to(other / name)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(cache))
    monkeypatch.delenv("M2FP_ROTO_MODEL", raising=False)
    assert locate_model() == snap.resolve()
    monkeypatch.setenv("M2FP_ROTO_MODEL", str(other))
    assert locate_model() == other.resolve()
    assert locate_model(tiny) == tiny.resolve()
    assert locate_model(str(tiny)) == tiny.resolve()


def test_offline_machine_without_model_says_how_at_once(no_model_env, monkeypatch):
    monkeypatch.setenv("M2FP_ROTO_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(ModelNotFound) as err:
        locate_model()
    assert time.monotonic() - start < 1.0
    msg = str(err.value)
    assert "\n" not in msg and "M2FP_ROTO_OFFLINE is set" in msg
    assert f"modelscope download {MODEL_ID}" in msg and "M2FP_ROTO_MODEL=" in msg
    with pytest.raises(ModelNotFound, match="studio/parser is no folder here and studio/parser is not in"):
        locate_model("studio/parser")


def test_silent_hub_is_given_up_after_the_short_probe(no_model_env, monkeypatch):
    # A loopback server that accepts connections and never answers: a hung network.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    monkeypatch.delenv("M2FP_ROTO_OFFLINE", raising=False)
    monkeypatch.setenv("MODELSCOPE_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
    try:
        start = time.monotonic()
        with pytest.raises(ModelNotFound, match="did not answer within"):
            locate_model()
        assert time.monotonic() - start < 5.0
    finally:
        server.close()


def test_a_probe_that_times_out_itself_also_says_the_hub_did_not_answer(monkeypatch):
    # The request's timeout and the wait for it are equal: whichever ends first, the same words.
    from m2fp_roto.m2fp import locate

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    monkeypatch.setattr(locate, "PROBE_TIMEOUT", 0.2)
    try:
        assert locate._probe(f"http://127.0.0.1:{server.getsockname()[1]}") is locate.SILENT
    finally:
        server.close()


def test_bad_model_folders_are_named(tmp_path, tiny):
    with pytest.raises(ModelNotFound, match="is not a folder"):
        locate_model(tmp_path / "nowhere")
    half = tmp_path / "half"
    half.mkdir()
    (half / "configuration.json").write_text((tiny / "configuration.json").read_text())
    with pytest.raises(ModelNotFound, match="lacks pytorch_model.pt"):
        locate_model(half)
    assert issubclass(ModelNotFound, RotoError)


def test_single_person_model_is_refused(tmp_path, tiny):
    folder = tmp_path / "single"
    folder.mkdir()
    config = json.loads((tiny / "configuration.json").read_text())
    config["model"].update(single_human=True, parsing_on=False)
    (folder / "configuration.json").write_text(json.dumps(config))
    (folder / WEIGHTS_FILE).symlink_to(tiny / WEIGHTS_FILE)
    with pytest.raises(ModelLoadError, match="single-person"):
        M2FPParser(folder)


# ---------------------------------------------------------------------------------------------
# Weight loading: strict, and no code from the checkpoint ever runs


def _with_state(tmp_path, tiny, edit, extra=None):
    folder = tmp_path / "edited"
    folder.mkdir(exist_ok=True)
    (folder / "configuration.json").write_text((tiny / "configuration.json").read_text())
    state = torch.load(tiny / WEIGHTS_FILE, weights_only=True)["model"]
    edit(state)
    torch.save({"model": state, **(extra or {})}, folder / WEIGHTS_FILE)
    return folder


def test_missing_unexpected_and_misshaped_keys_are_errors(tmp_path, tiny):
    key = "sem_seg_head.predictor.class_embed.weight"
    cases = {"1 missing: " + key: lambda s: s.pop(key),
             "1 unexpected: extra.weight": lambda s: s.__setitem__("extra.weight", torch.zeros(2)),
             "1 mis-shaped: " + key: lambda s: s.__setitem__(key, torch.zeros(3, 3))}
    for message, edit in cases.items():
        with pytest.raises(ModelLoadError, match=message.replace(".", r"\.")):
            load_network(_with_state(tmp_path, tiny, edit))


def test_training_only_keys_are_tolerated(tmp_path, tiny):
    def edit(state):
        state["criterion.empty_weight"] = torch.ones(21)
    net = load_network(_with_state(tmp_path, tiny, edit))
    ref = torch.load(tiny / WEIGHTS_FILE, weights_only=True)["model"]
    key = "sem_seg_head.predictor.class_embed.bias"
    assert torch.equal(net.state_dict()[key], ref[key])


class Trap:
    """Pickles as 'open this file for writing': running it would create the file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_objects_in_a_checkpoint_are_never_reconstructed(tmp_path, tiny):
    marker = tmp_path / "code ran"
    folder = _with_state(tmp_path, tiny, lambda s: None,
                         extra={"scheduler": Trap(str(marker)), "iteration": 265000})
    state = read_state_dict(folder / WEIGHTS_FILE)
    load_network(folder)
    assert not marker.exists()
    assert "sem_seg_head.predictor.class_embed.bias" in state
    torch.load(folder / WEIGHTS_FILE, weights_only=False)  # control: a plain load runs it
    assert marker.exists()


# ---------------------------------------------------------------------------------------------
# The deformable-attention operator and the mmcv shim


def _reference_deform_attn(value, shapes, locs, weights):
    """Textbook bilinear sampling (zero padding, pixel centres at +0.5) in numpy."""
    n, _, heads, d = value.shape
    _, q, _, levels, points, _ = locs.shape
    out = np.zeros((n, q, heads, d))
    start = 0
    for lvl, (h, w) in enumerate(shapes):
        v = value[:, start:start + h * w].reshape(n, h, w, heads, d)
        start += h * w
        x = locs[..., lvl, :, 0] * w - 0.5
        y = locs[..., lvl, :, 1] * h - 0.5
        x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - np.abs(x - xi)) * (1 - np.abs(y - yi)) * weights[..., lvl, :]
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            b, qq, hh, _ = np.indices(xi.shape)
            sample = v[b, yi.clip(0, h - 1), xi.clip(0, w - 1), hh]  # (n, q, heads, points, d)
            out += (sample * (wgt * ok)[..., None]).sum(3)
    return out.reshape(n, q, heads * d)


def test_deformable_attention_matches_bilinear_sampling():
    rng = np.random.default_rng(3)
    shapes = [(6, 7), (3, 4)]
    value = rng.normal(size=(2, sum(h * w for h, w in shapes), 2, 4))
    locs = rng.uniform(-0.1, 1.1, size=(2, 5, 2, 2, 3, 2))
    weights = rng.uniform(size=(2, 5, 2, 2, 3))
    got = multi_scale_deformable_attn(torch.tensor(value), torch.tensor(shapes), torch.tensor(locs),
                                      torch.tensor(weights))
    np.testing.assert_allclose(got.numpy(), _reference_deform_attn(value, shapes, locs, weights),
                               atol=1e-10)


def test_shim_appears_at_model_load_only_and_covers_a_broken_mmcv(tiny, tmp_path):
    broken = tmp_path / "site" / "mmcv"
    (broken / "ops").mkdir(parents=True)
    (broken / "__init__.py").write_text("__version__ = '2.2.0'\n")
    (broken / "ops" / "__init__.py").write_text("raise ImportError('mmcv._ext not found')\n")
    code = f"""
import sys
from m2fp_roto.m2fp.deform_attn import SHIM_MARK, mmcv_status
import m2fp_roto.m2fp as b
assert 'mmcv.ops' not in sys.modules
assert 'do not import' in mmcv_status(), mmcv_status()
from m2fp_roto.m2fp.network import load_network
load_network({str(tiny)!r})
op = sys.modules['mmcv.ops.multi_scale_deform_attn']
assert getattr(op, SHIM_MARK) and sys.modules['mmcv'].__version__ == '2.2.0'
assert 'PyTorch deformable attention is active' in mmcv_status()
"""
    env = dict(os.environ, PYTHONPATH=str(broken.parent))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


# ---------------------------------------------------------------------------------------------
# Post-processing: who owns which part


def _instances(specs, size=(32, 32)):
    """Instances from (label, score, box) with mask logit +4 inside the box, -4 outside."""
    h4, w4 = size[0] // 4, size[1] // 4
    masks = torch.full((len(specs), h4, w4), -4.0)
    for q, (_, _, (y0, y1, x0, x1)) in enumerate(specs):
        masks[q, y0:y1, x0:x1] = 4.0
    return Instances(torch.tensor([s[0] for s in specs]), torch.tensor([s[1] for s in specs]),
                     torch.arange(len(specs)), masks, size)


def test_parts_go_to_the_person_covering_them():
    human = 20
    inst = _instances([
        (human, 0.9, (0, 8, 0, 4)),   # person A: left half
        (human, 0.8, (0, 8, 4, 8)),   # person B: right half
        (human, 0.7, (0, 8, 0, 4)),   # a second query on A: a duplicate
        (13, 0.9, (0, 2, 1, 3)),      # face inside A
        (5, 0.8, (2, 6, 3, 7)),       # upper clothes mostly inside B (3 of 4 columns)
        (2, 0.2, (0, 2, 5, 7)),       # hair in B but below the part threshold
        (0, 0.9, (6, 8, 0, 8)),       # a background instance
        (human, 0.2, (0, 2, 0, 2)),   # a human below the person threshold
    ])
    asg = assign_people(inst, human, part_threshold=0.3, person_threshold=0.3)
    assert asg.people.tolist() == [0, 1]
    assert dict(zip(asg.parts.tolist(), asg.owners.tolist())) == {3: 0, 4: 1}
    assert asg.background.tolist() == [6]


def test_a_person_without_parts_is_dropped_and_stray_parts_too():
    human = 20
    inst = _instances([(human, 0.9, (0, 4, 0, 4)), (human, 0.8, (4, 8, 4, 8)), (9, 0.9, (5, 8, 5, 8)),
                       (16, 0.9, (0, 3, 5, 8))])  # the leg lies on no person
    asg = assign_people(inst, human, part_threshold=0.3, person_threshold=0.3)
    assert asg.people.tolist() == [1] and asg.parts.tolist() == [2] and asg.owners.tolist() == [0]


def test_a_query_under_several_labels_is_one_region():
    human = 20
    inst = _instances([(human, 0.9, (0, 8, 0, 8)), (13, 0.6, (0, 4, 0, 4)), (10, 0.4, (4, 8, 0, 4))])
    inst = Instances(torch.tensor([20, 13, 2, 10]), torch.tensor([0.9, 0.6, 0.5, 0.4]),
                     torch.tensor([0, 1, 1, 2]), inst.masks, inst.input_size)
    asg = assign_people(inst, human, part_threshold=0.3, person_threshold=0.3)
    assert asg.parts.tolist() == [1, 3]  # query 1 as face (0.6), not also as hair (0.5)


# ---------------------------------------------------------------------------------------------
# Parsing real frames


def test_parse_real_frames(parser):
    for n, rgb in enumerate(cihp_frames(2), 1001):
        p = parser.parse(rgb, n)
        assert p.frame == n and p.label_set == "cihp"
        assert p.parts.shape == p.people.shape == rgb.shape[:2] and p.parts.dtype == np.uint8
        ids = p.person_ids
        assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 2
        assert set(p.scores) == set(ids) and all(0 < s <= 1 for s in p.scores.values())
        assert ((p.parts != 0) == (p.people != 0)).all()
        assert len(np.unique(p.parts)) >= 2
        # The soft logits are at network resolution and agree with the hard map.
        from m2fp_roto.m2fp.parser import network_size

        assert p.part_logits.shape == (20, *network_size(*rgb.shape[:2])) and p.part_logits.dtype == np.float16
        up = np.stack([cv2.resize(c.astype(np.float32), rgb.shape[1::-1]) for c in p.part_logits])
        assert (up.argmax(0) == p.parts).mean() > 0.999


def test_batches_give_the_same_parse(tiny):
    a, b = cihp_frames(4)[2:4]
    b = np.asarray(Image.fromarray(b).resize(a.shape[1::-1]))
    single = M2FPParser(tiny, **LOW)
    batched = M2FPParser(tiny, batch_size=2, **LOW)
    pa, pb = batched.parse_batch([(1, a), (2, b)])
    for one, two in ((single.parse(a, 1), pa), (single.parse(b, 2), pb)):
        assert two.frame == one.frame
        assert (one.parts == two.parts).mean() > 0.999 and (one.people == two.people).mean() > 0.999


def test_bf16_agrees_with_fp32(tiny, parser):
    rgb = cihp_frames(1)[0]
    fast = M2FPParser(tiny, precision="bf16", **LOW)
    assert (fast.parse(rgb, 1).parts == parser.parse(rgb, 1).parts).mean() > 0.97


def test_working_resolution_and_reduced_logits(tiny):
    rgb = cihp_frames(1)[0]
    p = M2FPParser(tiny, resolution=320, logit_stride=2, **LOW).parse(rgb, 7)
    h, w = rgb.shape[:2]
    assert p.parts.shape == (h, w)
    assert p.part_logits.shape == (20, round(h * 320 / min(h, w) / 2), 160)
    assert M2FPParser(tiny, logit_stride=None, **LOW).parse(rgb, 7).part_logits is None


def test_settings_key_the_output_not_the_location(tiny, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in os.listdir(tiny):
        (copy / name).write_bytes((tiny / name).read_bytes())
    assert M2FPParser(copy).settings == M2FPParser(tiny).settings
    assert M2FPParser(tiny, precision="bf16").settings != M2FPParser(tiny).settings
    other = write_random_model(tmp_path / "other", "tiny", seed=5)
    assert M2FPParser(other).settings["model_sha256"] != M2FPParser(tiny).settings["model_sha256"]
    json.dumps(M2FPParser(tiny).settings)


def test_bad_options_and_frames_are_input_errors(tiny, parser):
    for kwargs in ({"precision": "fp8"}, {"device": "tpu"}, {"precision": "fp16"}, {"batch_size": 0},
                   {"resolution": 8}, {"logit_stride": 0}):
        with pytest.raises(InputError):
            M2FPParser(tiny, **kwargs)
    for bad in (np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), "frame.png"):
        with pytest.raises(InputError, match="frame 3"):
            parser.parse(bad, 3)


def test_describe_reports_versions_model_device_and_mmcv(tiny, monkeypatch):
    monkeypatch.setenv("M2FP_ROTO_MODEL", str(tiny))
    info = describe()
    assert info["torch"] == torch.__version__.split("+")[0] and info["modelscope"] != "not installed"
    assert info["model"] == str(tiny.resolve())
    assert info["device"].startswith(("cpu", "cuda")) and "deformable attention" in info["mmcv"] or "mmcv" in info["mmcv"]
    monkeypatch.setenv("M2FP_ROTO_MODEL", str(tiny / "gone"))
    assert describe()["model"].startswith("not found:")


# ---------------------------------------------------------------------------------------------
# Parity with ModelScope's own pipeline


def test_part_masks_match_the_stock_pipeline(tiny, parser):
    need("datasets")
    from modelscope.pipelines import pipeline
    from modelscope.utils.constant import Tasks

    rgb = cihp_frames(2)[1]
    stock = pipeline(Tasks.image_segmentation, model=str(tiny), device="cpu")(Image.fromarray(rgb))
    inst = parser.instances(rgb)
    names = parser.config["classes"]
    # The pipeline keeps parts scoring >= 0.1 and humans > 0.1; our scores come from
    # quarter-resolution masks, so instances within 2 % of that line may fall either way.
    kept = [i for i in range(len(inst)) if int(inst.labels[i]) != 0 and float(inst.scores[i]) >= 0.1]
    near = sum(abs(float(inst.scores[i]) / 0.1 - 1) < 0.02 for i in range(len(inst)))
    assert abs(len(kept) - len(stock["masks"])) <= near and len(stock["masks"]) >= 10
    masks = inst.full_masks(torch.tensor(kept), rgb.shape[:2]).numpy()
    ours = {i: (names[int(inst.labels[i])], masks[k]) for k, i in enumerate(kept)}
    for mask, label in zip(stock["masks"], stock["labels"]):
        mask = mask > 0.5
        ious = [(mask & m).sum() / max((mask | m).sum(), 1) for lab, m in ours.values() if lab == label]
        assert max(ious) >= 0.99, label
    assert "Human" in stock["labels"]
    # Our label map (same thresholds as the pipeline) puts part k only where a stock mask of k is.
    p = M2FPParser(tiny, part_threshold=0.1, person_threshold=0.1).parse(rgb, 1)
    for k in np.unique(p.parts[p.parts > 0]):
        union = np.any([m > 0.5 for m, lab in zip(stock["masks"], stock["labels"]) if lab == names[k]], axis=0)
        assert union[p.parts == k].mean() >= 0.99, names[k]


# ---------------------------------------------------------------------------------------------
# End to end: plate -> M2FP -> document -> export


def test_plate_to_document_and_export(parser, tmp_path):
    from m2fp_roto import pipeline as pipeline_mod
    from m2fp_roto.sources.plate import open_plate
    from m2fp_roto.sources.plate_parsing import PlateParsingSource
    from m2fp_roto_exporters import json_target

    frames = cihp_frames(1)
    seq = tmp_path / "plate"
    seq.mkdir()
    for f in (1001, 1002):
        Image.fromarray(frames[0]).save(seq / f"shot.{f}.png")
    plate = open_plate(str(seq / "shot.####.png"))
    source = PlateParsingSource.open(plate, parser, cache_root=tmp_path / "cache")
    doc = pipeline_mod.build_document(source)
    assert doc.first_frame == 1001 and doc.last_frame == 1002 and len(doc.shapes) >= 2
    names = {s.name.split("_")[0] for s in doc.shapes}
    assert names <= {f"p{i}" for i in range(1, 100)}
    written = json_target.write_to_file(doc, tmp_path / "out dir" / "shot roto.json")
    back = json.loads(Path(written[0]).read_text())
    assert len(back["shapes"]) == len(doc.shapes)


# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_full_size_architecture_matches_the_published_model(tmp_path):
    from m2fp_roto.m2fp.network import build_network

    folder = tmp_path / "full"
    folder.mkdir()
    (folder / "configuration.json").write_text(json.dumps({"model": model_config("full")}))
    net = build_network(folder)
    count = sum(p.numel() for p in net.parameters())
    assert abs(count / 1e6 - 63.12) < 0.05, count  # the model card says 63.0 M
