"""Marching squares in numpy (``m2fp_roto.isolines``) against scikit-image's ``find_contours``:
the same rings, from the same first point, in the same order, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.measure import find_contours

from conftest import shared_path
from m2fp_roto.isolines import closed_isolines, closed_isolines_many
from m2fp_roto.sources.labelmaps import read_index_image


def reference(field, level=0.5):
    return find_contours(np.asarray(field, np.float64), level, positive_orientation="high")


def same(a, b) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


def random_fields(count, seed=0):
    """Padded fields of every kind the vectorizer traces: masks (dense, sparse, with saddles),
    noise, and smooth soft boundaries."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        h, w = (int(v) for v in rng.integers(2, 48, 2))
        kind = i % 3
        if kind == 0:
            field = (rng.random((h, w)) < rng.random()).astype(np.float32)
        elif kind == 1:
            field = rng.random((h, w)).astype(np.float32)
        else:
            field = gaussian_filter(rng.random((h, w)), 1.5)
            field = ((field - field.min()) / (np.ptp(field) + 1e-9)).astype(np.float32)
        yield np.pad(field, 1, constant_values=min(float(field.min()), 0.0))


def test_random_fields_give_scikit_images_rings():
    fields = list(random_fields(900))
    for field in fields:
        assert same(closed_isolines(field), reference(field))
    masks = [f > 0.5 for f in fields[::3]]  # the masks, as bool
    for mask in masks:
        assert same(closed_isolines(mask), reference(mask))
    # in one batch, every field keeps its own rings
    for got, field in zip(closed_isolines_many(fields[:200] + masks[:50]), fields[:200] + masks[:50]):
        assert same(got, reference(field))


def test_saddles_keep_the_high_values_apart():
    checker = np.pad(np.indices((6, 6)).sum(0) % 2 == 0, 1)
    rings = closed_isolines(checker)
    assert len(rings) == 18 and same(rings, reference(checker))


def test_where_scikit_image_decides_the_answer_is_its_own():
    rng = np.random.default_rng(3)
    open_lines = rng.random((20, 20))  # not padded: lines run into the border
    at_level = np.pad(np.round(rng.random((12, 12)) * 4) / 4, 1)  # values exactly at 0.5
    with_nan = np.pad(rng.random((9, 9)), 1)
    with_nan[4, 4] = np.nan
    for field in (open_lines, at_level, with_nan):
        assert same(closed_isolines(field), reference(field))
    assert closed_isolines(np.zeros((5, 5), bool)) == [] and closed_isolines_many([]) == []
    with pytest.raises(ValueError):
        closed_isolines(np.ones((4, 4), bool), 0.3)


def test_every_region_of_real_label_maps():
    root = shared_path("data", "cihp_train_slice")
    crops = []
    for path in sorted((root / "Category_ids").glob("*.png"))[:8]:
        parts = read_index_image(path).astype(np.uint8)
        people = read_index_image(root / "Human_ids" / path.name)
        for k in np.unique(parts)[1:]:
            for p in np.unique(people[parts == k]):
                crops.append(np.pad((parts == k) & (people == p), 1))
    assert len(crops) > 150
    for crop, got in zip(crops, closed_isolines_many(crops)):
        assert same(got, reference(crop))
