"""Shots on a real Dask ``LocalCluster`` (two worker processes on 127.0.0.1).

A label-map shot and a random-weight model shot must give the document a single process gives,
byte for byte; a worker killed mid-shot (SIGKILL) must cost nothing but time: every frame
parsed into the cache exactly once, the same document. Runs are bounded (a few small frames).
"""

import io
import os
import signal
import time

import pytest

from conftest import need

distributed = need("distributed", "pip install -e '.[test,dask]'")
psutil = need("psutil", "pip install -e '.[test,dask]'")

from m2fp_roto.errors import InputError  # noqa: E402
from m2fp_roto.farm.cluster import connect  # noqa: E402
from m2fp_roto.pipeline import build_document  # noqa: E402
from m2fp_roto.progress import Progress  # noqa: E402
from m2fp_roto.sources.labelmaps import LabelMapSource  # noqa: E402
from support.farm_fixtures import FRAMES, MODEL_FRAMES  # noqa: E402
from support.farm_shots import CountingCache  # noqa: E402


def _children() -> set[int]:
    """Child processes, less multiprocessing's resource tracker (it lives as long as pytest)."""
    return {p.pid for p in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline())}


@pytest.fixture(scope="module")
def client():
    before = _children()
    with connect("local:2") as client:
        assert len(client.scheduler_info()["workers"]) == 2
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        yield client
    deadline = time.monotonic() + 10
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [psutil.Process(p).cmdline() for p in _children() - before]
    assert not left, f"outlived their cluster: {left}"


@pytest.fixture(scope="module")
def labels_shot(labels_folder):
    return LabelMapSource(labels_folder / "labels" / "parts.####.png", labels_folder / "people" / "people.####.png")


def test_label_map_shot_matches_one_process(client, labels_shot):
    expected = build_document(labels_shot).to_json()
    log = io.StringIO()
    doc = build_document(labels_shot, client=client, progress=Progress(len(FRAMES), "vectorize", stream=log))
    assert doc.to_json() == expected
    assert len(doc.shapes) > 10
    assert "PROGRESS 100% vectorize" in log.getvalue()


# --------------------------------------------------------------------------- the model shot


@pytest.fixture(scope="module")
def model_shot(model_plate, tiny_model):
    return model_plate, tiny_model


def model_source(model_shot, cache):
    from m2fp_roto.m2fp import M2FPParser
    from m2fp_roto.sources.plate import open_plate
    from m2fp_roto.sources.plate_parsing import PlateParsingSource

    plate, model = model_shot
    # One torch thread everywhere: CPU kernels sum in a thread-count dependent order, and a
    # single process is compared with single-threaded workers.
    parser = M2FPParser(model, resolution=128, threads=1, part_threshold=0.05, person_threshold=0.05)
    return PlateParsingSource.open(open_plate(str(plate / "shot.####.png")), parser, cache)


@pytest.fixture(scope="module")
def model_expected(model_shot, tmp_path_factory):
    doc = build_document(model_source(model_shot, tmp_path_factory.mktemp("one process cache")))
    assert len(doc.shapes) >= 5  # the random model's parts seen on fewer than 3 frames are flicker, left out
    return doc.to_json()


def test_model_shot_matches_one_process(client, model_shot, model_expected, tmp_path):
    source = model_source(model_shot, tmp_path / "cache")
    assert build_document(source, client=client).to_json() == model_expected
    assert source.parsed == len(MODEL_FRAMES) and source.cache.frames == MODEL_FRAMES
    # The cache the workers filled serves a single process without any parsing.
    again = model_source(model_shot, tmp_path / "cache")
    assert build_document(again).to_json() == model_expected and again.parsed == 0


# --------------------------------------------------------------------------- the command line


def run(*args):
    from click.testing import CliRunner

    from m2fp_roto.cli.main import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_export_joins_a_running_scheduler(client, labels_shot, tmp_path):
    labels = ["--labels", labels_shot.labels.pattern, "--people", labels_shot.people.pattern]
    here = run("export", *labels, "-o", tmp_path / "here.json")
    assert here.exit_code == 0, here.output
    there = run("export", *labels, "--cluster", client.scheduler.address, "-o", tmp_path / "cluster.json")
    assert there.exit_code == 0, there.output
    assert "PROGRESS 100% vectorize" in there.output and "PROGRESS 100% track" in there.output
    assert (tmp_path / "cluster.json").read_bytes() == (tmp_path / "here.json").read_bytes()


def test_parse_command_on_the_cluster(client, model_shot, tmp_path):
    plate, model = model_shot
    args = ["parse", plate / "shot.####.png", "--model", model, "--resolution", 128, "--threads", 1,
            "--cache", tmp_path / "cache"]
    first = run(*args, "--frames", "1001-1002", "--cluster", client.scheduler.address.replace("tcp://", ""))
    assert first.exit_code == 0, first.output
    assert "2 parsed, 0 already cached" in first.output and "PROGRESS 100% parse" in first.output
    second = run(*args, "--cluster", client.scheduler.address)
    assert f"{len(MODEL_FRAMES) - 2} parsed, 2 already cached" in second.output, second.output


# --------------------------------------------------------------------------- faults (last: it kills a worker)


def test_worker_killed_mid_shot(client, model_shot, model_expected, tmp_path):
    source = model_source(model_shot, tmp_path / "cache")
    source.cache = CountingCache(source.cache, tmp_path / "writes.log")
    pids = client.run(os.getpid)
    killed = {}

    class KillOnFirstFrame(Progress):
        def advance(self, n=1):
            super().advance(n)
            if not killed:  # a worker that still has frames assigned: its tasks must move
                busy = [w for w, keys in client.processing().items() if keys]
                assert busy, "no worker had frames left to lose"
                killed[busy[0]] = pids[busy[0]]
                os.kill(pids[busy[0]], signal.SIGKILL)

    doc = build_document(source, client=client, progress=KillOnFirstFrame(len(MODEL_FRAMES), enabled=False))
    assert killed and not psutil.pid_exists(next(iter(killed.values())))
    assert doc.to_json() == model_expected
    writes = source.cache.writes()
    assert sorted(writes) == MODEL_FRAMES, f"cache writes {writes}: a frame missing or parsed twice"
    # The nanny replaced the killed worker; the cluster is whole again.
    client.wait_for_workers(2, timeout=30)
    assert next(iter(killed.values())) not in client.run(os.getpid).values()


def test_unreachable_scheduler_is_one_line(labels_shot, tmp_path):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # port 9 (discard): nobody listens
        result = run("export", "--labels", labels_shot.labels.pattern, "--cluster", "tcp://127.0.0.1:9",
                     "-o", tmp_path / "out.json")
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert "Traceback" not in result.output and not (tmp_path / "out.json").exists()
    with pytest.raises(InputError, match="needs at least one worker"):
        with connect("local:0"):
            pass
