"""``m2fp-roto farm-job``: Open Job Description templates, checked and run with ``openjd-cli``.

``openjd check`` validates each template; ``openjd run`` runs every step and every chunk on
this machine (the tasks call the real ``m2fp-roto`` commands), on a label-map shot and on a
plate parsed by the random-weight model, and the roto file equals the single-process run's.
A chunk that fails (a plate frame not yet delivered) is run again, as the farm retries it,
and parses only the frames it had not cached.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import need
from support.farm_fixtures import MODEL_FRAMES

need("openjd.cli", "pip install -e '.[test]'")

from m2fp_roto import exporters  # noqa: E402
from m2fp_roto.cli.main import main  # noqa: E402
from m2fp_roto.pipeline import build_document  # noqa: E402

BIN = Path(sys.executable).parent  # m2fp-roto of this environment, as a render node has it on PATH


def farm_job(*args):
    result = CliRunner().invoke(main, ["farm-job", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def openjd(*args, check=True):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([sys.executable, "-m", "openjd", *map(str, args)], capture_output=True, text=True,
                            env=env, timeout=240, stdin=subprocess.DEVNULL)
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def single_process(doc, path) -> bytes:
    """``doc`` written through the same exporter the job's Export step uses."""
    exporters.write(doc, path, "json")
    return path.read_bytes()


def test_plate_job_runs_every_chunk_and_retries(model_plate, tiny_model, tmp_path):
    from m2fp_roto.m2fp import M2FPParser
    from m2fp_roto.sources.plate import open_plate
    from m2fp_roto.sources.plate_parsing import PlateParsingSource

    plate = model_plate / "shot.####.png"
    job, values = tmp_path / "job dir" / "shot_job.yaml", tmp_path / "job dir" / "shot_job.values.yaml"
    out = farm_job(plate, "--frames", "1001-1003", "--chunk", 2, "--target", "json", "--model", tiny_model,
                   "--resolution", 128, "--threads", 1, "--cache", tmp_path / "cache", "-o", job)
    assert "steps Parse -> Export" in out.output
    openjd("check", job)
    template, paths = yaml.safe_load(job.read_text()), yaml.safe_load(values.read_text())
    parse, export = template["steps"]
    assert template["extensions"] == ["TASK_CHUNKING"]
    assert parse["parameterSpace"]["taskParameterDefinitions"] == [{
        "name": "Frames", "type": "CHUNK[INT]", "range": "{{Param.Frames}}",
        "chunks": {"defaultTaskCount": "{{Param.ChunkSize}}", "rangeConstraint": "CONTIGUOUS"}}]
    assert export["dependencies"] == [{"dependsOn": "Parse"}]
    assert template["jobEnvironments"][0]["variables"]["M2FP_ROTO_MODEL"] == "{{Param.ModelFolder}}"
    assert paths == {"Plate": str(plate), "CacheFolder": str(tmp_path / "cache"), "ModelFolder": str(tiny_model),
                     "Output": str(tmp_path / "job dir" / "shot_roto.json")}

    # Frame 1002 is still being copied when the first chunk runs: the chunk fails after caching 1001.
    good = (model_plate / "shot.1002.png").read_bytes()
    broken = tmp_path / "broken plate"
    broken.mkdir()
    for f in MODEL_FRAMES[:3]:
        data = good[:200] if f == 1002 else (model_plate / f"shot.{f}.png").read_bytes()
        (broken / f"shot.{f}.png").write_bytes(data)
    params = ["-p", f"file://{values}", "-p", f"Plate={broken / 'shot.####.png'}"]
    failed = openjd("run", job, *params, "--step", "Parse", "--task-param", "Frames=1001-1002", check=False)
    assert failed.returncode != 0
    assert "error: plate frame 1002: cannot read" in failed.stdout
    cache_dirs = list((tmp_path / "cache").iterdir())
    assert [p.name for p in sorted(cache_dirs[0].glob("*.npz"))] == ["1001.npz"]

    # The frame arrives; the farm runs the chunk again (then the rest of the job): 1001 is not parsed again.
    (broken / "shot.1002.png").write_bytes(good)
    run = openjd("run", job, *params, "--step", "Export", "--run-dependencies")
    log = run.stdout
    assert "Frames(CHUNK[INT]) = 1001-1002" in log and "Frames(CHUNK[INT]) = 1003-1003" in log
    assert "1 parsed, 1 already cached" in log and "1 parsed, 0 already cached" in log
    assert "openjd_progress: 100" in log and "openjd_status: track" in log
    written = Path(paths["Output"]).read_bytes()

    source = PlateParsingSource.open(open_plate(str(broken / "shot.####.png"), "1001-1003"),
                                     M2FPParser(tiny_model, resolution=128, threads=1), tmp_path / "one process")
    doc = build_document(source)
    assert len(doc.shapes) >= 2  # the random model's parts seen on fewer than 3 frames are flicker, left out
    assert written == single_process(doc, tmp_path / "one process.json")


def test_label_map_job_exports(labels_folder, tmp_path):
    from m2fp_roto.sources.labelmaps import LabelMapSource

    labels, people = labels_folder / "labels" / "parts.####.png", labels_folder / "people" / "people.####.png"
    job = tmp_path / "labels_job.yaml"
    out = farm_job("--labels", labels, "--people", people, "--frames", "1001-1004", "--roto", tmp_path / "roto.json",
                   "--max-gap", 3, "--anchor-tolerance", 1.5, "-o", job)
    assert "steps Export" in out.output
    openjd("check", job)
    template = yaml.safe_load(job.read_text())
    assert [s["name"] for s in template["steps"]] == ["Export"] and "extensions" not in template
    args = template["steps"][0]["script"]["actions"]["onRun"]["args"]
    assert args[args.index("--max-gap") + 1] == "3" and args[args.index("--people") + 1] == str(people)
    assert args[args.index("--anchor-tolerance") + 1] == "1.5"
    openjd("run", job, "-p", f"file://{tmp_path / 'labels_job.values.yaml'}", "--step", "Export")

    from m2fp_roto.tracking.track import TrackOptions

    doc = build_document(LabelMapSource(str(labels), str(people), frames="1001-1004"),
                         track_options=TrackOptions(max_gap=3, anchor_tolerance=1.5))
    assert (tmp_path / "roto.json").read_bytes() == single_process(doc, tmp_path / "one process.json")


def test_job_options_and_errors(model_plate, tiny_model, tmp_path, monkeypatch):
    plate = model_plate / "shot.####.png"
    monkeypatch.setenv("M2FP_ROTO_MODEL", str(tiny_model))
    job = tmp_path / "sh010 job.json"
    farm_job(plate, "--precision", "bf16", "--target", "nuke", "--smoothing", 0.25, "--no-track", "-o", job)
    template = json.loads(job.read_text())
    parse, export = (s["script"]["actions"]["onRun"]["args"] for s in template["steps"])
    assert parse[-2:] == ["--precision", "bf16"]  # parse settings in both steps, alike
    assert "--precision" in export and export[export.index("--precision") + 1] == "bf16"
    assert "--smoothing" in export and "--no-track" in export and "--smoothing" not in parse
    values = json.loads((tmp_path / "sh010 job.values.json").read_text())
    assert values["ModelFolder"] == str(tiny_model) and values["Output"] == str(tmp_path / "shot_roto.nk")
    frames = next(p for p in template["parameterDefinitions"] if p["name"] == "Frames")
    assert frames["default"] == "1001-1004"

    for args, message in [((plate, "--labels", plate), "exactly one input"),
                          ((plate, "--no-cache"), "--no-cache"),
                          ((plate, "--target", "tiff"), "unknown target 'tiff'"),
                          ((plate, "--roto", tmp_path / "x.unknown"), "cannot tell the target")]:
        result = CliRunner().invoke(main, ["farm-job", *map(str, args), "-o", str(tmp_path / "j.yaml")])
        assert result.exit_code == 2 and message in result.output, result.output
        assert "Traceback" not in result.output
    monkeypatch.delenv("M2FP_ROTO_MODEL")
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "empty cache"))
    result = CliRunner().invoke(main, ["farm-job", str(plate), "-o", str(tmp_path / "j.yaml")])
    assert result.exit_code == 2 and result.output.startswith("error: ") and not (tmp_path / "j.yaml").exists()


@pytest.mark.parametrize("frames, text", [([1001, 1002, 1003, 1005, 1007, 1008], "1001-1003,1005,1007-1008"),
                                          ([7], "7"), (range(1001, 1101), "1001-1100")])
def test_frame_ranges(frames, text):
    from m2fp_roto.farm.openjd import openjd_range
    from m2fp_roto.sources.frames import parse_frames

    assert openjd_range(frames) == text
    assert parse_frames(text) == sorted(frames)  # what the tasks' --frames reads back
    # A Frames value given at submission in Open Job Description's step form reads as a step.
    assert parse_frames("1001-1009:4") == parse_frames("1001-1009x4") == [1001, 1005, 1009]
