"""Plates read from real files written here: sequences in every spelling, EXR/DPX/PNG, movies, colour."""

import logging
import pickle
import subprocess
import sys

import numpy as np
import OpenEXR
import pytest

from conftest import need, shared_path
from m2fp_roto.errors import InputError
from m2fp_roto.sources.colour import PINNED_CONFIG, ColourError
from m2fp_roto.sources.image_readers import FrameReadError
from m2fp_roto.sources.plate import MoviePlate, open_plate

oiio = need("OpenImageIO")
av = need("av")
need("PyOpenColorIO")

W, H = 40, 24


def srgb_oetf(v):
    """IEC 61966-2-1 encoding of linear values in [0, 1]."""
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def frame_image(frame, dtype=np.uint8):
    """A frame-specific picture: a horizontal ramp plus a block whose position encodes the frame."""
    ramp = np.linspace(0, 1, W, dtype=np.float32)
    img = np.repeat(np.repeat(ramp[None, :, None], H, 0), 3, 2).copy()
    img[2:6, (frame % 8) * 4:(frame % 8) * 4 + 4] = [1.0, 0.0, 0.5]
    if dtype == np.uint8:
        return (img * 255 + 0.5).astype(np.uint8)
    return img.astype(dtype)


def write_oiio(path, pixels, **attrs):
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2],
                          {np.uint8: "uint8", np.uint16: "uint16", np.float32: "float", np.float16: "half"}[pixels.dtype.type])
    for k, v in attrs.items():
        spec.attribute(k, v)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), oiio.geterror()
    assert out.write_image(pixels)
    out.close()


def write_exr(path, rgb, **header):
    hdr = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **header}
    with OpenEXR.File(hdr, {"RGB": np.ascontiguousarray(rgb)}) as f:
        f.write(str(path))


@pytest.fixture
def png_seq(tmp_path):
    folder = tmp_path / "plate dir with spaces"
    folder.mkdir()
    for f in (1001, 1002, 1003):
        write_oiio(folder / f"shot.{f:04d}.png", frame_image(f))
    return folder


@pytest.mark.parametrize("spelling", ["shot.####.png", "shot.%04d.png", "shot.@@@@.png", "shot.1001-1003#.png", ""])
def test_sequence_spellings(png_seq, spelling):
    plate = open_plate(png_seq / spelling if spelling else png_seq)
    assert plate.frames == [1001, 1002, 1003]
    assert (plate.width, plate.height, plate.pixel_aspect, plate.fps) == (W, H, 1.0, 24.0)
    assert plate.kind == "sequence"
    for f in plate.frames:
        rgb = plate.read(f)
        assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)
        np.testing.assert_array_equal(rgb, frame_image(f))  # 8-bit sRGB: untouched
    if spelling:
        # as the user wrote it; a frame range in the pattern is kept apart (the document's frames)
        assert plate.source == str(png_seq / ("shot.####.png" if "-" in spelling else spelling))
    else:
        assert plate.source.endswith("shot.####.png")


def test_frame_range_option_and_embedded_range(png_seq):
    assert open_plate(png_seq / "shot.####.png", "1002-1003").frames == [1002, 1003]
    assert open_plate(png_seq / "shot.1001-1002#.png").frames == [1001, 1002]
    with pytest.raises(InputError, match="1004"):
        open_plate(png_seq / "shot.####.png", "1001-1004")
    with pytest.raises(InputError, match="not in the plate"):
        open_plate(png_seq / "shot.####.png", "1002").read(1001)


def test_missing_frames_error_and_skip(png_seq, caplog):
    (png_seq / "shot.1002.png").unlink()
    with pytest.raises(InputError, match=r"missing frame\(s\) 1002.*--skip-missing"):
        open_plate(png_seq / "shot.####.png")
    with caplog.at_level(logging.WARNING, "m2fp_roto"):
        plate = open_plate(png_seq / "shot.####.png", skip_missing=True)
    assert plate.frames == [1001, 1003]
    assert "1002" in caplog.text
    np.testing.assert_array_equal(plate.read(1003), frame_image(1003))


def test_corrupt_frame_is_a_clear_error_and_can_be_skipped(png_seq, caplog):
    (png_seq / "shot.1002.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    plate = open_plate(png_seq / "shot.####.png")
    with pytest.raises(FrameReadError) as err:
        plate.read(1002)
    message = str(err.value)
    assert "frame 1002" in message and "shot.1002.png" in message and "\n" not in message
    with caplog.at_level(logging.WARNING, "m2fp_roto"):
        assert open_plate(png_seq / "shot.####.png", skip_missing=True).frames == [1001, 1003]
    assert "unreadable" in caplog.text


def test_corrupt_and_truncated_exr(tmp_path):
    write_exr(tmp_path / "a.1001.exr", frame_image(1001, np.float32))
    write_exr(tmp_path / "a.1002.exr", frame_image(1002, np.float32))
    data = (tmp_path / "a.1002.exr").read_bytes()
    (tmp_path / "a.1002.exr").write_bytes(data[: len(data) // 2])  # header intact, pixels cut off
    (tmp_path / "a.1003.exr").write_bytes(b"garbage" * 20)
    plate = open_plate(tmp_path / "a.####.exr", colorspace="none")
    plate.read(1001)
    for frame in (1002, 1003):
        with pytest.raises(FrameReadError, match=f"frame {frame}.*a.{frame}.exr"):
            plate.read(frame)


def test_frame_of_another_size_is_rejected(png_seq):
    write_oiio(png_seq / "shot.1003.png", np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(FrameReadError, match="10x10, but the plate is 40x24"):
        open_plate(png_seq / "shot.####.png").read(1003)
    assert open_plate(png_seq / "shot.####.png", skip_missing=True).frames == [1001, 1002]


def test_linear_rec709_exr_becomes_srgb(tmp_path):
    values = np.concatenate([np.linspace(0, 1, W - 4), [1.5, 4.0, -0.1, 0.0018]]).astype(np.float32)
    rgb = np.repeat(np.repeat(values[None, :, None], H, 0), 3, 2)
    rgb[:, :, 1] *= 0.5  # not grey: channels must stay apart
    write_exr(tmp_path / "lin.1001.exr", rgb)
    plate = open_plate(tmp_path / "lin.####.exr", colorspace="Linear Rec.709 (sRGB)")
    out = plate.read(1001).astype(int)
    expected = np.round(srgb_oetf(rgb) * 255).astype(int)
    assert np.abs(out - expected).max() <= 1
    assert (out[:, W - 4:W - 2, [0, 2]] == 255).all()  # over-range clips, no wrap
    assert plate.settings["ocio_config"] == PINNED_CONFIG
    assert plate.settings["colorspace"] == "Linear Rec.709 (sRGB)"
    # an alias names the same space
    assert open_plate(tmp_path / "lin.####.exr", colorspace="lin_rec709").settings == plate.settings


def test_exr_default_is_the_configs_scene_linear_role(tmp_path):
    """ACEScg greys stay grey through the AP1 -> Rec.709 matrix, so the ramp must follow the sRGB curve."""
    grey = np.repeat(np.repeat(np.linspace(0, 1, W, dtype=np.float32)[None, :, None], H, 0), 3, 2)
    write_exr(tmp_path / "cg.0001.exr", grey.astype(np.float16))
    plate = open_plate(tmp_path / "cg.####.exr")
    assert plate.settings["colorspace"] == "ACEScg"
    expected = np.round(srgb_oetf(grey.astype(np.float16).astype(np.float32)) * 255)
    assert np.abs(plate.read(1).astype(int) - expected).max() <= 1
    raw = open_plate(tmp_path / "cg.####.exr", colorspace="none")
    assert raw.settings == {"colorspace": "none"}
    assert np.abs(raw.read(1).astype(int) - np.round(grey * 255)).max() <= 1  # just quantised


def test_ocio_env_and_option_pick_the_config(tmp_path, monkeypatch):
    write_exr(tmp_path / "e.1001.exr", frame_image(1001, np.float32))
    monkeypatch.setenv("OCIO", "ocio://cg-config-v2.1.0_aces-v1.3_ocio-v2.3")
    assert open_plate(tmp_path / "e.####.exr").settings["ocio_config"].startswith("ocio://cg-config")
    monkeypatch.delenv("OCIO")
    with pytest.raises(ColourError, match="no colour space 'Not A Space'"):
        open_plate(tmp_path / "e.####.exr", colorspace="Not A Space")
    with pytest.raises(ColourError, match="cannot load the OCIO config"):
        open_plate(tmp_path / "e.####.exr", ocio_config=str(tmp_path / "missing.ocio"))


def test_exr_pixel_aspect_fps_and_data_window(tmp_path):
    rgb = np.full((10, 12, 3), 0.5, np.float32)
    write_exr(tmp_path / "ana.1001.exr", rgb, pixelAspectRatio=2.0,
              dataWindow=(np.array([20, 6], np.int32), np.array([31, 15], np.int32)),
              displayWindow=(np.array([0, 0], np.int32), np.array([W - 1, H - 1], np.int32)))
    plate = open_plate(tmp_path / "ana.####.exr", colorspace="none")
    assert (plate.width, plate.height, plate.pixel_aspect) == (W, H, 2.0)
    out = plate.read(1001)
    assert (out[6:16, 20:32] == 128).all()
    out[6:16, 20:32] = 0
    assert not out.any()  # outside the data window: black


def test_dpx_10bit_with_pixel_aspect(tmp_path):
    img16 = (frame_image(5, np.float32) * 65535).astype(np.uint16)
    for f in (5, 6):
        write_oiio(tmp_path / f"scan.{f:05d}.dpx", img16, **{"oiio:BitsPerSample": 10, "PixelAspectRatio": 1.5})
    plate = open_plate(tmp_path / "scan.%05d.dpx")
    assert plate.frames == [5, 6] and plate.pixel_aspect == 1.5
    assert plate.settings == {"colorspace": "none"}  # integer files are taken as display sRGB
    assert np.abs(plate.read(5).astype(int) - frame_image(5).astype(int)).max() <= 1  # 10-bit quantisation


def test_single_image_keeps_its_number_or_takes_first_frame(png_seq, tmp_path):
    path = png_seq / "shot.1002.png"
    plate = open_plate(path)
    assert plate.frames == [1002] and plate.kind == "image"  # 1002 stays 1002
    np.testing.assert_array_equal(plate.read(1002), frame_image(1002))
    (tmp_path / "still.png").write_bytes(path.read_bytes())
    assert open_plate(tmp_path / "still.png").frames == [1]  # no number in the name
    assert open_plate(path, first_frame=1001).frames == [1001]
    with pytest.raises(InputError, match="keeps its own frame numbers"):
        open_plate(png_seq / "shot.####.png", first_frame=1)


def test_unknown_format(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="unknown plate format '.txt'"):
        open_plate(tmp_path / "notes.txt")


def coded_frame(i):
    """64x48 picture whose 7 vertical bars spell ``i`` in binary: survives lossy coding exactly."""
    bits = [(i >> b) & 1 for b in range(7)] + [1]
    row = np.repeat(np.array(bits, np.uint8) * 255, 8)
    return np.repeat(np.repeat(row[None, :, None], 48, 0), 3, 2).copy()


def decode_index(rgb):
    bars = rgb[:, :56].reshape(48, 7, 8, 3).mean(axis=(0, 2, 3))
    return sum(1 << b for b in range(7) if bars[b] > 128)


@pytest.fixture
def movie(tmp_path):
    """H.264 with B-frames, 25 fps, 100 frames, a keyframe every 10; frame i shows i in binary."""
    path = tmp_path / "clip with spaces.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": "10", "keyint_min": "10", "sc_threshold": "0", "bf": "2", "crf": "10"}
        for i in range(100):
            for packet in stream.encode(av.VideoFrame.from_ndarray(coded_frame(i), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_movie_frames_fps_and_random_access(movie):
    plate = open_plate(movie)
    assert isinstance(plate, MoviePlate)
    assert plate.frames == list(range(1, 101))
    assert (plate.width, plate.height, plate.fps, plate.pixel_aspect) == (64, 48, 25.0, 1.0)
    sequential = {f: plate.read(f) for f in plate.frames}
    assert [decode_index(sequential[f]) for f in plate.frames] == list(range(100))
    # backwards, far forward (keyframe seeks), short hops, repeats: the same pixels as in order
    for f in (30, 3, 99, 98, 12, 1, 100, 100, 57, 58, 64, 2):
        np.testing.assert_array_equal(plate.read(f), sequential[f])
    plate.close()
    np.testing.assert_array_equal(plate.read(20), sequential[20])  # reopens after close
    clone = pickle.loads(pickle.dumps(plate))  # farm workers get a plate without its open decoder
    np.testing.assert_array_equal(clone.read(7), sequential[7])


def test_movie_first_frame_and_range(movie, caplog):
    plate = open_plate(movie, "1080-1082", first_frame=1001)
    assert plate.frames == [1080, 1081, 1082]
    assert decode_index(plate.read(1081)) == 80  # a chunk deep in the movie: keyframe seek
    assert plate._decoder.decoded <= 12, "seeks to the keyframe at 80, not from the start"
    assert decode_index(plate.read(1082)) == 81
    decoded = plate._decoder.decoded
    plate.read(1082)
    assert plate._decoder.decoded == decoded  # the same frame again costs nothing
    with pytest.raises(InputError, match=r"missing frame\(s\) 101-102"):
        open_plate(movie, "99-102")
    with caplog.at_level(logging.WARNING, "m2fp_roto"):
        assert open_plate(movie, "99-102", skip_missing=True).frames == [99, 100]


def test_corrupt_movie(tmp_path):
    bad = tmp_path / "broken.mov"
    bad.write_bytes(b"\x00\x00\x00\x14ftypqt  " + b"junk" * 50)
    with pytest.raises(InputError, match="broken.mov"):
        open_plate(bad)
    with pytest.raises(InputError, match="no movie file"):
        open_plate(tmp_path / "absent.mp4")


@pytest.mark.parametrize("rel, count, size, fps", [
    (("vivid_upper1", "videos", "upper1.mp4"), 48, (624, 832), 24.0),
    (("clips", "bedroom.mp4"), 200, (960, 540), 30.0),
])
def test_real_movies(rel, count, size, fps):
    plate = open_plate(shared_path("data", *rel))
    assert len(plate.frames) == count and plate.frames[0] == 1
    assert (plate.width, plate.height) == size and plate.fps == fps
    first, last = plate.read(1), plate.read(count)
    assert first.shape == (size[1], size[0], 3) and first.std() > 10  # a real picture, not a flat frame
    assert not np.array_equal(first, last)
    np.testing.assert_array_equal(plate.read(1), first)  # back to the start
    for a, b in ((count // 4, count // 2), (count // 2 + 1, count)):  # far jumps forward
        plate.read(a)
        decoded = plate._decoder.decoded
        plate.read(b)
        assert plate._decoder.decoded - decoded <= b - a + 1, "never decodes more than going forward"


def test_import_stays_light():
    code = ("import sys, m2fp_roto.sources.plate, m2fp_roto.sources.plate_parsing, m2fp_roto.sources.parse_cache; "
            "print(sorted(m for m in ('av', 'OpenImageIO', 'PyOpenColorIO', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nan_and_inf_pixels_are_safe(tmp_path):
    rgb = np.zeros((2, 3, 3), np.float32)
    rgb[0, 0], rgb[0, 1], rgb[0, 2] = np.nan, np.inf, -np.inf
    write_exr(tmp_path / "bad.1001.exr", rgb)
    for colorspace in ("lin_rec709", "none"):
        out = open_plate(tmp_path / "bad.####.exr", colorspace=colorspace).read(1001)
        assert out[0, 0].tolist() == [0, 0, 0] and out[0, 1].tolist() == [255] * 3 and out[0, 2].tolist() == [0] * 3


def test_unreadable_first_frame_is_skipped_too(png_seq):
    (png_seq / "shot.1001.png").write_bytes(b"broken")
    with pytest.raises(FrameReadError, match="shot.1001.png"):
        open_plate(png_seq / "shot.####.png")
    plate = open_plate(png_seq / "shot.####.png", skip_missing=True)
    assert plate.frames == [1002, 1003] and (plate.width, plate.height) == (W, H)


def test_a_config_file_is_keyed_by_its_content(tmp_path):
    import PyOpenColorIO as ocio

    write_exr(tmp_path / "e.1001.exr", frame_image(1001, np.float32))
    text = ocio.Config.CreateFromFile(PINNED_CONFIG).serialize()
    config = tmp_path / "show.ocio"
    config.write_text(text)
    before = open_plate(tmp_path / "e.####.exr", ocio_config=str(config)).settings
    assert before["ocio_config"] == str(config) and before["ocio_cache_id"]
    config.write_text(text.replace("scene_linear: ACEScg", "scene_linear: Linear Rec.709 (sRGB)"))
    from m2fp_roto.sources.colour import _load_config

    _load_config.cache_clear()  # a long-lived process would see the new file after a restart
    after = open_plate(tmp_path / "e.####.exr", ocio_config=str(config)).settings
    assert after["colorspace"] == "Linear Rec.709 (sRGB)" and after["ocio_cache_id"] != before["ocio_cache_id"]
    assert "ocio_cache_id" not in open_plate(tmp_path / "e.####.exr").settings  # built-ins: the name says it


def test_log_dpx_without_a_colour_space_warns(tmp_path, caplog):
    write_oiio(tmp_path / "log.1001.dpx", np.full((H, W, 3), 30000, np.uint16),
               **{"oiio:BitsPerSample": 10, "dpx:Transfer": "Logarithmic"})
    with caplog.at_level(logging.WARNING, "m2fp_roto"):
        open_plate(tmp_path / "log.####.dpx")
    assert "Logarithmic encoded" in caplog.text and "--colorspace" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, "m2fp_roto"):
        plate = open_plate(tmp_path / "log.####.dpx", colorspace="ADX10")
    assert caplog.text == "" and plate.settings["colorspace"] == "ADX10"
    assert plate.read(1001).std() == 0  # a flat grey stays flat through the transform
