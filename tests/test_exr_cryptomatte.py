"""Cryptomatte: golden hashes, the reference files decoded, our own files decoded through
OpenImageIO back to the per-part mattes."""

from __future__ import annotations

import dataclasses
import json
import re
import struct

import mmh3
import numpy as np
import OpenEXR
import pytest
from test_exr_export import PARTS, synthetic_document

from conftest import shared_path
from m2fp_roto_exporters import exr
from m2fp_roto_exporters.exr import cryptomatte as cm
from support import cryptomatte_decoder as dec

REFERENCE = ("special_chars.exr", "sidecar_manifest.exr", "multichannel.exr",
             "cornellBox_CryptoWildcard.0001.exr")


def reference(name):
    return shared_path("reference", "cryptomatte", name)


# -- hashing --------------------------------------------------------------------------------

def test_specification_vectors():
    assert cm.name_hash("torus") == 4053562365
    assert float(cm.name_id("torus")) == pytest.approx(-1.54943624832e30, rel=1e-9)
    assert cm.name_hash("равнина") == 2518896926
    assert float(cm.name_id("равнина")) == pytest.approx(-1.31926312124e-25, rel=1e-9)
    assert cm.type_key("special_chars") == "fbb35e3" and cm.type_key("crypto_asset") == "28322e9"


def test_exponent_fix_up_keeps_ids_normal_floats():
    raw = {}
    for i in range(20000):
        name = f"p{i}/part"
        h = mmh3.hash(name.encode(), 0, signed=False)
        if (h >> 23) & 0xFF in (0, 255):
            raw[name] = h
    assert len(raw) >= 50  # about 2/256 of all names hit the edge cases
    for name, h in raw.items():
        fixed = cm.name_hash(name)
        assert fixed == h ^ (1 << 23) == dec.id_bits(name)
        value = cm.name_id(name)
        assert np.isfinite(value) and abs(value) >= np.finfo(np.float32).tiny
        assert 1 <= (fixed >> 23) & 0xFF <= 254


def test_manifest_and_metadata_keys():
    meta = cm.metadata("CryptoPart", ["p1/hair", 'p2/"odd" \\ name'])
    key = cm.type_key("CryptoPart")
    assert len(key) == 7
    assert meta[f"cryptomatte/{key}/name"] == "CryptoPart"
    assert meta[f"cryptomatte/{key}/hash"] == "MurmurHash3_32"
    assert meta[f"cryptomatte/{key}/conversion"] == "uint32_to_float32"
    manifest = json.loads(meta[f"cryptomatte/{key}/manifest"])
    assert manifest == {n: f"{dec.id_bits(n):08x}" for n in ["p1/hair", 'p2/"odd" \\ name']}


def test_ranks_are_ordered_truncated_and_zero_last():
    # pixel 0: eight objects (more than 6 ranks); pixel 1: two; pixel 2: none
    cov0 = np.array([0.05, 0.3, 0.1, 0.02, 0.2, 0.15, 0.08, 0.1])
    pixel = np.r_[np.zeros(8, int), [1, 1]]
    ids = np.r_[np.arange(100, 108), [7, 9]].astype(np.uint32)
    cov = np.r_[cov0, [0.25, 0.5]]
    out_ids, out_cov = cm.rank(pixel, ids, cov, 3)
    assert out_ids.shape == out_cov.shape == (6, 3)
    np.testing.assert_allclose(out_cov[:, 0], [0.3, 0.2, 0.15, 0.1, 0.1, 0.08], rtol=1e-6)
    assert out_ids[:, 0].tolist() == [101, 104, 105, 102, 107, 106]  # equal coverage: lower ID first
    assert out_ids[:2, 1].tolist() == [9, 7] and not out_ids[2:, 1].any() and not out_cov[2:, 1].any()
    assert not out_ids[:, 2].any() and not out_cov[:, 2].any()


def test_normalize_caps_each_pixel_at_one():
    pixel = np.array([0, 0, 1])
    got = cm.normalize(pixel, np.array([0.8, 0.6, 0.4]), 2)
    np.testing.assert_allclose(got, [0.8 / 1.4, 0.6 / 1.4, 0.4])


# -- the reference files ----------------------------------------------------------------------

@pytest.mark.parametrize("name", REFERENCE)
def test_reference_manifests_hash_to_their_ids(name):
    path = reference(name)
    found = dec.decode(path)
    assert found
    for crypto in found.values():
        assert crypto.key == cm.type_key(crypto.name) == f"{dec.id_bits(crypto.name):08x}"[:7]
        assert crypto.metadata["hash"] == "MurmurHash3_32"
        assert crypto.manifest, crypto.name
        for entry, hexid in crypto.manifest.items():
            assert f"{cm.name_hash(entry):08x}" == hexid == f"{dec.id_bits(entry):08x}", entry
        assert len(crypto.ranks) == 6
        listed = {int(v, 16) for v in crypto.manifest.values()}
        assert crypto.pixel_ids() - listed <= {0}  # only the background is unnamed


@pytest.mark.parametrize("name", REFERENCE)
def test_reference_mattes_rebuild(name):
    path = reference(name)
    image = dec.read_image(path)
    x0, y0, x1, y1 = image.data_window
    for crypto in dec.decode(path, image).values():
        visible = [n for n in crypto.manifest if dec.id_bits(n) in crypto.pixel_ids()]
        assert visible
        total = crypto.matte(visible) + crypto.matte([0])
        assert total.max() <= 1 + 1e-5
        if "cornell" not in name:  # Arnold gives every pixel its full weight, background as ID 0
            np.testing.assert_allclose(total[y0:y1 + 1, x0:x1 + 1], 1.0, atol=1e-5)
        for n in visible:
            m = crypto.matte([n])
            assert m.max() > 0 and m.min() >= 0 and m.max() <= 1 + 1e-5, n
        assert max(crypto.matte([n]).max() for n in visible) > 0.99


def test_reference_channel_spellings_and_sidecar():
    special = dec.decode(reference("special_chars.exr"))["special_chars"]
    assert special.channels[:2] == ["special_chars00.red", "special_chars00.green"]
    assert set(special.manifest) == {'name containing a "quote"  ', "name_containing/slash", "равнина",
                                     "name, with, comma"}
    sidecar = dec.decode(reference("sidecar_manifest.exr"))["crypto_asset"]
    assert "manif_file" in sidecar.metadata and len(sidecar.manifest) == 8
    multi = dec.decode(reference("multichannel.exr"))
    assert set(multi) == {"crypto_asset", "crypto_material", "crypto_object"}
    assert multi["crypto_object"].channels[0] == "crypto_object00.R"


def test_reference_wildcard_names_are_where_they_say():
    path = reference("cornellBox_CryptoWildcard.0001.exr")
    image = dec.read_image(path)
    assert image.data_window[0] == 167 and image.display_size == (960, 540)
    crypto = dec.decode(path, image)["uCryptoWildcard"]

    def centre(name):
        ys, xs = np.nonzero(crypto.matte([name]) > 0.5)
        return xs.mean(), ys.mean(), np.nonzero(crypto.matte([name]))[1].min()

    assert centre("rect_[_top")[1] < 100 < 450 < centre("rect_][_bot")[1]
    assert centre("Rect_]_left")[0] < 300 < 650 < centre("Rect_[]_right")[0]
    assert centre("Rect_]_left")[2] == 167  # the data-window offset is honoured
    assert crypto.matte(["sphere_?_2"]).sum() > 1000


def test_reference_decodes_the_same_with_the_openexr_binding():
    path = reference("multichannel.exr")
    crypto = dec.decode(path)["crypto_material"]
    with OpenEXR.File(str(path), separate_channels=True) as f:
        ch = {k: v.pixels.copy() for k, v in f.channels().items()}
    name = next(iter(crypto.manifest))
    want = np.zeros(ch["crypto_material00.R"].shape, np.float32)
    for layer in ("00", "01", "02"):
        for i, c in (("R", "G"), ("B", "A")):
            ids = ch[f"crypto_material{layer}.{i}"].astype(np.float32).view(np.uint32)
            want += np.where(ids == dec.id_bits(name), ch[f"crypto_material{layer}.{c}"], 0)
    np.testing.assert_array_equal(crypto.matte([name]), want)


# -- our own files ------------------------------------------------------------------------------

def check_ours(path, layers_from=None):
    """Decode one of our files through OpenImageIO; check the spec's rules; return
    (mattes of every layer, decoded Cryptomattes)."""
    image = dec.read_image(path)
    found = dec.decode(path, image)
    assert set(found) == {exr.PERSON_TYPE, exr.PART_TYPE}
    assert image.attributes["compression"] in ("zip", "zips", "piz")
    for crypto in found.values():
        assert crypto.key == cm.type_key(crypto.name)
        assert crypto.metadata["conversion"] == "uint32_to_float32"
        assert len(crypto.ranks) == 6
        assert all(image.formats[c] == "float" for c in crypto.channels)
        assert {int(v, 16) for v in crypto.manifest.values()} >= crypto.pixel_ids()
        for n, v in crypto.manifest.items():
            assert v == f"{dec.id_bits(n):08x}"
        covs = np.stack([c for _, c in crypto.ranks])
        ids = np.stack([i for i, _ in crypto.ranks])
        assert (np.diff(covs, axis=0) <= 0).all()  # ordered by coverage, zero ranks last
        assert not ids[covs == 0].any()  # empty ranks carry ID 0
        assert covs.sum(axis=0).max() <= 1 + 1e-6
    source = dec.read_image(layers_from) if layers_from else image
    mattes = {c[:-2]: v for c, v in source.channels.items() if c.endswith(".A") and not c.startswith("Crypto")}
    assert all(source.formats[f"{c}.A"] == "half" for c in mattes)
    return mattes, found


def test_our_cryptomatte_decodes_to_the_part_layers(tmp_path):
    doc = synthetic_document()
    files = exr.write_to_file(doc, tmp_path / "shot.####.exr")
    for path in files:
        mattes, found = check_ours(path)
        part, person = found[exr.PART_TYPE], found[exr.PERSON_TYPE]
        assert set(part.manifest) == {f"p{p}/{n}" for p in (1, 2) for n in PARTS}
        assert set(person.manifest) == {"p1", "p2"}
        for p in (1, 2):
            for n in PARTS:
                np.testing.assert_allclose(part.matte([f"p{p}/{n}"]), mattes[f"p{p}_{n}"], atol=1e-3)
            whole = sum(mattes[f"p{p}_{n}"] for n in PARTS)
            np.testing.assert_allclose(person.matte([f"p{p}"]), whole, atol=1e-3)
        np.testing.assert_allclose(part.matte([f"p1/{n}" for n in PARTS]), person.matte(["p1"]), atol=1e-5)


def test_split_cryptomatte_matches_the_layers(tmp_path):
    doc = synthetic_document()
    files = exr.write_to_file(doc, tmp_path / "shot.%04d.exr", split=True, compression="piz", frames=[1003])
    mattes, found = check_ours(files[1], layers_from=files[0])
    for p in (1, 2):
        for n in PARTS:
            np.testing.assert_allclose(found[exr.PART_TYPE].matte([f"p{p}/{n}"]), mattes[f"p{p}_{n}"], atol=1e-3)


def test_overlapping_parts_are_normalised(tmp_path):
    doc = synthetic_document(overlap=True)
    path = exr.write_to_file(doc, tmp_path / "o.####.exr", frames=[1002])[0]
    mattes, found = check_ours(path)
    total = sum(mattes.values())
    assert total.max() > 1.5  # the test really has overlaps
    for name, matte in mattes.items():
        p, part = re.match(r"p(\d+)_(.+)", name).groups()
        want = matte / np.maximum(total, 1.0)
        np.testing.assert_allclose(found[exr.PART_TYPE].matte([f"p{p}/{part}"]), want, atol=1e-3)


def real_document(n_images=2):
    """A multi-frame document from real CIHP label maps (one image per frame, on one canvas)."""
    from m2fp_roto.document import RotoDocument
    from m2fp_roto.pipeline import build_document
    from m2fp_roto.sources.labelmaps import LabelMapSource

    base = shared_path("data", "cihp_train_slice")
    names = sorted(p.name for p in (base / "Category_ids").iterdir())[:n_images]
    docs = [build_document(LabelMapSource(base / "Category_ids" / n, base / "Human_ids" / n)) for n in names]
    shapes = []
    for frame, d in enumerate(docs, 1001):
        for s in d.shapes:
            keys = [dataclasses.replace(k, frame=frame) for k in s.keys]
            shapes.append(dataclasses.replace(s, name=f"{s.name}@{frame}", frames=(frame, frame), keys=keys,
                                              parent=s.parent and f"{s.parent}@{frame}"))
    return RotoDocument(width=max(d.width for d in docs), height=max(d.height for d in docs),
                        first_frame=1001, last_frame=1000 + len(docs), source=str(base),
                        shapes=shapes).validate()


def test_real_label_maps_round_trip(tmp_path):
    from test_exr_export import supersampled

    doc = real_document()
    files = exr.write_to_file(doc, tmp_path / "real.####.exr")
    assert len(files) == 2
    for frame, path in zip(doc.frames, files):
        mattes, found = check_ours(path)
        part = found[exr.PART_TYPE]
        total = sum(mattes.values())
        alive = {(s.person, s.part) for s in doc.shapes if s.alive(frame)}
        assert alive and all(mattes[f"p{p}_{n}"].any() for p, n in alive)
        for p, n in alive:
            got = mattes[f"p{p}_{n}"]
            want = got / np.maximum(total, 1.0)  # neighbouring parts' curves may overlap a little
            np.testing.assert_allclose(part.matte([f"p{p}/{n}"]), want, atol=1e-3)
            alone = total <= 1.0
            np.testing.assert_allclose(part.matte([f"p{p}/{n}"])[alone], got[alone], atol=1e-3)
        # the layers are the document's shapes, rasterised independently
        for p, n in sorted(alive)[:3]:
            shapes = [s for s in doc.shapes if (s.person, s.part) == (p, n)]
            ref = supersampled(shapes, frame, (doc.height, doc.width), k=8)
            assert np.abs(mattes[f"p{p}_{n}"] - ref).max() < 0.1
            assert abs(mattes[f"p{p}_{n}"].sum() - ref.sum()) <= 0.005 * ref.sum() + 1


def test_id_bits_agree_with_struct_unpacking():
    for name in ("p1", "p1/hair", "CryptoPart"):
        assert struct.unpack("<I", struct.pack("<f", float(cm.name_id(name))))[0] == cm.name_hash(name)


def test_more_objects_than_ranks_keeps_the_six_strongest(tmp_path):
    from test_exr_export import ellipse

    from m2fp_roto.document import RotoDocument, Shape

    doc = RotoDocument(width=64, height=48, first_frame=1, last_frame=1)
    for i in range(8):  # eight parts over the centre, the later ones smaller
        doc.shapes.append(Shape.static(f"p1_part{i}", 1, f"part{i}", 1, 1, ellipse(32, 24, 20 - 2 * i, 15 - i)))
    path = exr.write_to_file(doc, tmp_path / "many.exr")[0]
    mattes, found = check_ours(path)
    part = found[exr.PART_TYPE]
    assert len(part.manifest) == 8
    centre = [int(ids[24, 32]) for ids, _ in part.ranks]
    assert len(set(centre)) == 6 and 0 not in centre
    np.testing.assert_allclose([float(c[24, 32]) for _, c in part.ranks], 1 / 8, rtol=1e-6)
    assert part.matte(list(part.manifest))[24, 32] == pytest.approx(6 / 8)
    # the person type sees one object there, at full coverage
    assert found[exr.PERSON_TYPE].matte(["p1"])[24, 32] == pytest.approx(1.0)
