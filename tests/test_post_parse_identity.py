"""The fast post-parse paths give exactly what the straightforward ones give, on real label maps.

- the vectorizer, end to end, against the same pipeline on the plain stages
  (``support.plain_stages``: a whole-frame scan per region, scikit-image's marching squares, one
  ring and one corner at a time, every shape flattened, the per-sample fit), bit for bit, on
  CIHP ground truth, SCHP model output, soft part scores and a synthetic crowd;
- ``Parsing.regions()`` (one pass over the maps) against a scan of the whole frame per region;
- the vectorizer on a region's crop against the same region as a whole-frame mask;
- the Cryptomatte channels the EXR target writes against ranks computed over the whole data
  window from every covered pixel (``cryptomatte.normalize`` and ``rank``).
"""

from __future__ import annotations

import logging

import numpy as np
import OpenEXR

from conftest import shared_path
from m2fp_roto import fitting
from m2fp_roto import vectorize as vec
from m2fp_roto.cli.demo import render_frame
from m2fp_roto.document import RotoDocument
from m2fp_roto.parsing import Parsing
from m2fp_roto.pipeline import untracked_shapes
from m2fp_roto.sources.labelmaps import read_index_image
from m2fp_roto_exporters import exr
from m2fp_roto_exporters.exr import cryptomatte as cm
from m2fp_roto_exporters.exr.coverage import part_coverages
from m2fp_roto_exporters.exr.frame import PART_TYPE, PERSON_TYPE, crypto_names
from support import plain_stages


def cihp(count=20):
    root = shared_path("data", "cihp_train_slice")
    for i, path in enumerate(sorted((root / "Category_ids").glob("*.png"))[:count]):
        parts = read_index_image(path).astype(np.uint8)
        people = read_index_image(root / "Human_ids" / path.name)
        yield Parsing(i, parts, np.where(parts > 0, people, 0).astype(np.int32), "cihp")


def schp():
    root = shared_path("data", "schp_single")
    parts = read_index_image(root / "demo_lip.png").astype(np.uint8)
    return Parsing(0, parts, (parts > 0).astype(np.int32), "lip")


def crowd(frame=5):
    return Parsing(1001 + frame, *render_frame(frame, 12, 1.0, 8))


def test_regions_equal_a_whole_frame_scan_per_region():
    frames = [*cihp(), schp(), crowd()]
    # person ids need not be 1..N, and a part pixel may have no person
    odd = next(cihp(1))
    odd.people = np.where(odd.people == 1, 1000, odd.people)
    odd.people[:5] = 0
    for parsing in [*frames, odd]:
        got = list(parsing.regions())
        want = list(plain_stages.regions(parsing))
        assert [(r.person, r.part, r.box) for r in got] == [(r.person, r.part, r.box) for r in want]
        for region, plain in zip(got, want):
            assert np.array_equal(region.mask, plain.mask)
            assert np.array_equal(region.frame_mask(parsing.shape), plain.frame_mask(parsing.shape))
            y0, y1, x0, x1 = region.box  # tight: a region pixel on every edge of the box
            assert region.mask[0].any() and region.mask[-1].any()
            assert region.mask[:, 0].any() and region.mask[:, -1].any()
            assert region.mask.shape == (y1 - y0, x1 - x0)


def test_empty_and_background_only_frames_have_no_regions():
    blank = np.zeros((6, 9), np.uint8)
    assert list(Parsing(1, blank, blank.astype(np.int32)).regions()) == []
    parts = np.full((6, 9), 2, np.uint8)  # parts without people
    assert list(Parsing(1, parts, np.zeros((6, 9), np.int32)).regions()) == []


def test_a_crop_vectorizes_like_its_whole_frame_mask():
    options = vec.VectorizeOptions()
    for parsing in cihp(6):
        for region in parsing.regions():
            crop = vec.vectorize_region(region.mask, options, box=region.box, frame_shape=parsing.shape)
            whole = vec.vectorize_region(region.frame_mask(parsing.shape), options)
            assert crop[1] == whole[1]
            assert len(crop[0]) == len(whole[0])
            for (outer, holes), (outer2, holes2) in zip(crop[0], whole[0]):
                assert np.array_equal(outer.xy, outer2.xy) and len(holes) == len(holes2)
                assert all(np.array_equal(a.xy, b.xy) for a, b in zip(holes, holes2))


def soft(parsing, seed=0):
    """``parsing`` with part scores at a quarter of its resolution, as a parser keeps them."""
    import cv2

    h, w = parsing.shape
    onehot = np.stack([(parsing.parts == k).astype(np.float32) for k in range(20)])
    small = np.stack([cv2.resize(c, (w // 4, h // 4), interpolation=cv2.INTER_AREA) for c in onehot])
    noise = np.random.default_rng(seed).standard_normal(small.shape)
    parsing.part_logits = (6 * small + 0.3 * noise).astype(np.float16)
    return parsing


def test_vectorize_equals_the_plain_stages_bit_for_bit(monkeypatch, caplog):
    frames = [*cihp(12), schp(), crowd(), *(soft(p, i) for i, p in enumerate(cihp(2)))]
    with caplog.at_level(logging.INFO, logger="m2fp_roto"):
        fast = [vec.vectorize_parsing(p) for p in frames]
        specks = [r.getMessage() for r in caplog.records]
        caplog.clear()
        plain_stages.patched(monkeypatch)
        plain = [vec.vectorize_parsing(p) for p in frames]
        assert specks == [r.getMessage() for r in caplog.records] and len(specks) > 5  # specks dropped
    assert sum(map(len, fast)) > 400
    for got, want in zip(fast, plain):
        assert [(c.person, c.part, c.component, c.hole) for c in got] == \
            [(c.person, c.part, c.component, c.hole) for c in want]
        for a, b in zip(got, want):
            assert np.array_equal(a.points, b.points) and np.array_equal(a.ring, b.ring) and a.area == b.area


def test_fit_runs_matches_the_plain_formulation_on_free_and_fixed_ends():
    rng = np.random.default_rng(7)
    runs, t1, t2, free1, free2 = [], [], [], [], []
    for i in range(60):
        n = int(rng.integers(2, 90))
        t = np.linspace(0, 1, n)
        runs.append(np.c_[40 * t + rng.normal(0, 0.3, n), 15 * np.sin(3 * t + i) + rng.normal(0, 0.3, n)])
        t1.append([1.0, 0.0])
        t2.append([-1.0, 0.0])
        free1.append(i % 3 == 0)
        free2.append(i % 4 == 0)
    got = fitting.fit_runs(runs, t1, t2, 0.4, free1=free1, free2=free2)
    want = plain_stages.fit_runs(runs, t1, t2, 0.4, free1=free1, free2=free2)
    for a, b in zip(got, want):
        assert np.array_equal(np.stack(a), np.stack(b))


def dense_cryptomatte(doc, frame, window, ranks=6):
    """Both Cryptomattes of a frame over the whole window, from every covered pixel of every part."""
    y0, x0, y1, x1 = window
    h, w = y1 - y0, x1 - x0
    tiles = part_coverages(doc, frame)
    keys = list(tiles)
    part_names, person_names = crypto_names(keys)
    people = list(dict.fromkeys(p for p, _ in keys))
    full = np.zeros((len(keys), h, w))
    for k, key in enumerate(keys):
        if tiles[key] is not None:
            tiles[key].paste(full[k], (y0, x0))
    part, pixel = np.nonzero(full.reshape(len(keys), -1))
    cov = cm.normalize(pixel, full.reshape(len(keys), -1)[part, pixel].astype(np.float32), h * w)
    part_ids = np.array([cm.name_hash(n) for n in part_names], np.uint32)
    person_ids = np.array([cm.name_hash(n) for n in person_names], np.uint32)
    owner = np.array([people.index(p) for p, _ in keys])
    # order the entries as the parts come (part-major), as a sum over parts would
    order = np.lexsort((pixel, part))
    part, pixel, cov = part[order], pixel[order], cov[order]
    planes = np.zeros((len(people), h * w))
    for k in range(len(keys)):  # person coverage: its parts' normalised coverages, in part order
        sel = part == k
        planes[owner[k], pixel[sel]] += cov[sel]
    who, where = np.nonzero(planes)
    return (cm.rank(pixel, part_ids[part], cov, h * w, ranks),
            cm.rank(where, person_ids[who], planes[who, where], h * w, ranks))


def test_cryptomatte_equals_ranks_over_the_whole_window(tmp_path):
    frames = [crowd(f) for f in (2, 9)]  # eight people who overlap: many shared pixels
    per_frame = {p.frame: vec.vectorize_parsing(p) for p in frames}
    h, w = frames[0].shape
    doc = RotoDocument(width=w, height=h, first_frame=frames[0].frame, last_frame=frames[-1].frame,
                       shapes=untracked_shapes(per_frame)).validate()
    files = exr.write_to_file(doc, tmp_path / "m.####.exr", threads=1)
    shared = 0
    for path, frame in zip(files, doc.frames):
        with OpenEXR.File(str(path), separate_channels=True) as f:
            (x0, y0), (x1, y1) = f.header()["dataWindow"]
            channels = {k: v.pixels.copy() for k, v in f.channels().items()}
        window = (int(y0), int(x0), int(y1) + 1, int(x1) + 1)
        for name, (ids, cov) in zip((PART_TYPE, PERSON_TYPE), dense_cryptomatte(doc, frame, window)):
            for r in range(len(ids)):
                layer, (i_ch, c_ch) = f"{name}{r // 2:02d}", (("R", "G"), ("B", "A"))[r % 2]
                assert np.array_equal(channels[f"{layer}.{i_ch}"].view(np.uint32).ravel(), ids[r])
                assert np.array_equal(channels[f"{layer}.{c_ch}"].ravel(), cov[r])
            shared += int(np.count_nonzero(cov[1]))
    assert shared > 1000


def test_fold_check_decides_as_flattening_does():
    """``vectorize.folded`` flattens only shapes near zero area; its answers are the exact ones."""
    rng = np.random.default_rng(11)
    shapes, holes = [], []
    for i in range(400):
        n = int(rng.integers(2, 9))
        scale = [0.3, 3.0, 40.0][i % 3]  # tiny shapes fold, large ones do not
        th = np.sort(rng.random(n)) * 2 * np.pi
        xy = np.c_[np.cos(th), np.sin(th)] * scale * (1 + 0.3 * rng.random((n, 1))) + 50
        handles = rng.normal(0, scale * 0.6, (n, 4))
        shapes.append(np.hstack([xy, handles]))
        holes.append(bool(i % 2))
    shapes.append(np.array([[1.0, 1, 0, 0, 0, 0], [3, 1, 0, 0, 0, 0]]))  # zero area
    holes.append(False)
    want = plain_stages.folded(shapes, holes)
    assert vec.folded(shapes, holes) == want
    assert 50 < len(want) < 350
