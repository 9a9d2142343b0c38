import numpy as np
import pytest
from PIL import Image

from m2fp_roto.errors import InputError
from m2fp_roto.sources.frames import find_sequence, frame_path, parse_frames
from m2fp_roto.sources.labelmaps import LabelMapSource, read_index_image


def write(path, arr, mode="L", palette=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(arr.astype(np.uint8), mode=mode)
    if palette:
        img.putpalette(palette)
    img.save(path)


@pytest.fixture
def shot(tmp_path):
    d = tmp_path / "my shot"
    for f in (1001, 1002, 1003):
        parts = np.zeros((20, 30), np.uint8)
        parts[5:15, 5:12] = 2
        parts[5:15, 15:25] = 13
        people = np.zeros_like(parts)
        people[:, :13] = 1
        people[:, 13:] = 2
        write(d / f"labels.{f}.png", parts, "P", palette=list(range(256)) * 3)
        write(d / f"people.{f}.png", people * (parts > 0))
    return d


@pytest.mark.parametrize("spelling", ["labels.####.png", "labels.%04d.png", "labels.@@@@.png",
                                      "labels.1001-1003#.png", "labels.#.png"])
def test_every_sequence_spelling_finds_the_frames(shot, spelling):
    assert find_sequence(shot / spelling).frames == [1001, 1002, 1003]


def test_folder_and_range(shot, tmp_path):
    only = tmp_path / "only"
    only.mkdir()
    for f in (7, 8):
        (only / f"m.{f:03d}.png").write_bytes(b"")
    assert find_sequence(only).frames == [7, 8]
    assert find_sequence(shot / "labels.####.png", "1002-1003").frames == [1002, 1003]
    with pytest.raises(InputError, match="several sequences"):
        find_sequence(shot)


def test_missing_frame_is_named_and_can_be_skipped(shot, caplog):
    (shot / "labels.1002.png").unlink()
    with pytest.raises(InputError, match=r"missing frame\(s\) 1002 .*--skip-missing"):
        find_sequence(shot / "labels.####.png")
    seq = find_sequence(shot / "labels.####.png", skip_missing=True)
    assert seq.frames == [1001, 1003] and "skipped" in caplog.text


def test_palette_png_gives_indices_and_people_assign_parts(shot):
    src = LabelMapSource(shot / "labels.####.png", shot / "people.####.png")
    p = src.parse(1002)
    assert (src.width, src.height, src.frames) == (30, 20, [1001, 1002, 1003])
    assert set(np.unique(p.parts)) == {0, 2, 13}
    regions = {(r.person, r.part): int(r.mask.sum()) for r in p.regions()}
    assert regions == {(1, 2): 70, (2, 13): 100}


def test_without_people_everything_is_person_one(shot):
    p = LabelMapSource(shot / "labels.####.png").parse(1001)
    assert {(r.person, r.part) for r in p.regions()} == {(1, 2), (1, 13)}


def test_matte_label_set_makes_one_region(tmp_path):
    write(tmp_path / "m.0001.png", np.pad(np.full((4, 4), 255), 3))
    p = LabelMapSource(tmp_path / "m.####.png", label_set="matte").parse(1)
    assert [(r.person, r.part, int(r.mask.sum()), r.box) for r in p.regions()] == [(1, 1, 16, (3, 7, 3, 7))]


def test_bad_input_errors_are_one_clear_line(shot, tmp_path, caplog):
    (shot / "labels.1003.png").write_bytes(b"not a png at all")
    with pytest.raises(InputError, match=r"cannot read .*labels\.1003\.png"):
        LabelMapSource(shot / "labels.####.png").parse(1003)
    write(shot / "people.1002.png", np.zeros((5, 5)))
    with pytest.raises(InputError, match=r"person map .*frame 1002\) is 5x5, but its label map is 30x20"):
        LabelMapSource(shot / "labels.####.png", shot / "people.####.png").parse(1002)
    write(tmp_path / "x.0001.png", np.full((4, 4), 40))
    with pytest.raises(InputError, match="label ids 40 are not in label set 'cihp'"):
        LabelMapSource(tmp_path / "x.####.png").parse(1)
    write(tmp_path / "e.0001.png", np.zeros((4, 4)))
    empty = LabelMapSource(tmp_path / "e.####.png")
    assert list(empty.parse(1).regions()) == [] and empty.empty == {1}  # said once for the shot
    with pytest.raises(InputError, match="no files match"):
        find_sequence(tmp_path / "nothing.####.png")
    with pytest.raises(InputError, match="unknown label set"):
        LabelMapSource(shot / "labels.####.png", label_set="coco")


def test_colour_rgb_label_maps_are_refused(tmp_path):
    arr = np.zeros((4, 4, 3), np.uint8)
    arr[0, 0] = (255, 0, 0)
    Image.fromarray(arr, "RGB").save(tmp_path / "c.png")
    with pytest.raises(InputError, match="colour image"):
        read_index_image(tmp_path / "c.png")


def test_frame_ranges_and_output_paths():
    assert parse_frames("1001-1003,1010") == [1001, 1002, 1003, 1010]
    assert parse_frames("1-9x4") == [1, 5, 9]
    with pytest.raises(InputError, match="frame range"):
        parse_frames("ten")
    assert str(frame_path("a b/s.%05d.exr", 42)) == "a b/s.00042.exr"
    assert str(frame_path("s.png", 3)) == "s.0003.png"
