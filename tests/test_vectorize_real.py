"""Vectorizer quality on real label maps: CIHP ground truth (multi-person) and SCHP model output.

Over every region of at least ``min_area`` px the fitted shapes must re-rasterize to the mask
(IoU), hug its sub-pixel boundary (mean distance, px) and use at most a quarter of the points
of the pixel-exact polygon of the same boundary.
"""

import numpy as np
import pytest

from conftest import shared_path
from m2fp_roto.parsing import Parsing
from m2fp_roto.qa.metrics import frame_quality, summarize
from m2fp_roto.sources.labelmaps import read_index_image
from m2fp_roto.vectorize import VectorizeOptions, vectorize_parsing

OPTIONS = VectorizeOptions()  # the defaults are what is promised
MIN_IOU, MAX_BOUNDARY, MAX_POINTS_RATIO = 0.97, 0.35, 0.25


def cihp_frames():
    root = shared_path("data", "cihp_train_slice")
    paths = sorted((root / "Category_ids").glob("*.png"))
    assert len(paths) == 20
    for i, path in enumerate(paths):
        parts = read_index_image(path).astype(np.uint8)
        people = read_index_image(root / "Human_ids" / path.name)
        yield Parsing(i, parts, np.where(parts > 0, people, 0).astype(np.int32), "cihp")


def schp_frames():
    root = shared_path("data", "schp_single")
    for i, label_set in enumerate(("lip", "atr", "pascal")):
        parts = read_index_image(root / f"demo_{label_set}.png").astype(np.uint8)
        assert parts.shape == (1333, 2000)
        yield Parsing(i, parts, (parts > 0).astype(np.int32), label_set)


def measure(frames):
    rows, shapes = [], 0
    for parsing in frames:
        contours = vectorize_parsing(parsing, OPTIONS)
        shapes += len(contours)
        for c in contours:
            assert c.points.shape[1] == 6 and np.isfinite(c.points).all()
        rows += frame_quality(parsing, contours, OPTIONS.min_area)
    return summarize(rows), rows, shapes


def check(summary, rows, what):
    text = (f"{what}: {summary['regions']} regions, mean IoU {summary['iou']:.4f}, boundary error "
            f"mean {summary['boundary_mean']:.3f} px (p95 {summary['boundary_p95']:.3f}), points / pixel "
            f"polygon points {summary['points_ratio']:.3f}")
    print(text)
    assert summary["iou"] >= MIN_IOU, f"IoU regressed: {text}"
    assert summary["boundary_mean"] <= MAX_BOUNDARY, f"boundary error regressed: {text}"
    assert summary["points_ratio"] <= MAX_POINTS_RATIO, f"too many points: {text}"
    worst = min(rows, key=lambda r: r["iou"])
    # No region may be lost: even the smallest kept region overlaps its mask well.
    assert worst["iou"] > 0.75, f"{what}: region {worst} is badly drawn"


@pytest.fixture(scope="module")
def cihp():
    return measure(cihp_frames())


def test_cihp_ground_truth_quality(cihp):
    summary, rows, shapes = cihp
    assert summary["regions"] > 350  # every region >= 64 px of the 20 images is measured
    assert shapes >= summary["regions"]
    check(summary, rows, "CIHP")


def test_cihp_every_region_has_a_shape(cihp):
    _, rows, _ = cihp
    missing = [r for r in rows if r["shapes"] == 0 and r["area"] > 0]
    assert not missing, f"regions without shapes: {missing[:5]}"


def test_schp_model_output_quality():
    summary, rows, _ = measure(schp_frames())
    assert summary["regions"] >= 15
    check(summary, rows, "SCHP 2000x1333")
    assert summary["iou"] >= 0.99, f"large real regions must be near exact: {summary}"
