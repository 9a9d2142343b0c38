"""Render-farm jobs as Open Job Description templates (``jobtemplate-2023-09``).

Open Job Description is the open job format of AWS Deadline Cloud; ``openjd check`` validates a
template and ``openjd run`` runs it on one machine (both from ``openjd-cli``). A plate job has
two steps:

``Parse``
    One task per chunk of frames: a ``CHUNK[INT]`` task parameter over the ``Frames`` job
    parameter (the ``TASK_CHUNKING`` extension, contiguous chunks of ``ChunkSize`` frames), each
    running ``m2fp-roto parse PLATE --frames <chunk> --cache CACHE``. Frames land in the shared
    parse cache one by one (atomically), so a chunk the farm runs again skips what is cached.
``Export``
    Depends on ``Parse``; ``m2fp-roto export PLATE --frames FRAMES --cache CACHE`` reads every
    frame from the cache, tracks, and writes ``Output`` as ``Target``.

A label-map job has only the ``Export`` step: its frames are parsed already. The job
environment sets ``M2FP_ROTO_MODEL`` from ``ModelFolder`` and asks the CLI for
``openjd_progress`` lines. Options that change a parse (precision, resolution, colour ...) are
written into both steps' commands alike, so the export finds every chunk's frames in the cache.
"""

from __future__ import annotations

import copy
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import InputError
from .commands import export_command, parse_command

SPEC = "jobtemplate-2023-09"


def _script(command: list[str]) -> dict:
    return {"actions": {"onRun": {"command": command[0], "args": command[1:]}}}


def openjd_range(frames) -> str:
    """Frame numbers as an Open Job Description range expression of contiguous runs,
    e.g. ``1001-1050,1060-1100`` (read alike by ``--frames``)."""
    frames = sorted(set(int(f) for f in frames))
    if not frames:
        raise InputError("no frames to put in the job")
    runs, start = [], frames[0]
    for prev, cur in zip(frames, frames[1:] + [None]):
        if cur is None or cur != prev + 1:
            runs.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = cur
    return ",".join(runs)


def _path(name: str, default: Path, description: str, object_type: str, data_flow: str) -> dict:
    return {"name": name, "type": "PATH", "objectType": object_type, "dataFlow": data_flow,
            "default": str(default), "description": description}


def job_template(*, name: str, frames, output: Path, target: str, targets: list[str], plate: Path | None = None,
                 labels: Path | None = None, chunk: int = 10, cache: Path | None = None, model: Path | None = None,
                 parse_args: list[str] = (), export_args: list[str] = ()) -> dict:
    """The job template (a dict ready for YAML or JSON).

    Parameters
    ----------
    name : the job's name.
    frames : the frame numbers (the ``Frames`` parameter's default).
    output, target : the roto file the export writes, and its target (one of ``targets``).
    plate : a plate pattern: a ``Parse`` step plus ``Export``; needs ``cache`` and ``model``.
    labels : a label-map pattern instead (``Export`` only); ``export_args`` carry the rest
        (``--people``, ``--label-set`` ...).
    chunk : frames per ``Parse`` task (the ``ChunkSize`` default).
    parse_args : options for both steps that change a parse (``--precision bf16`` ...).
    export_args : options for ``Export`` only (vectorize, tracking, target options).
    """
    if (plate is None) == (labels is None):
        raise InputError("a job needs exactly one input: a plate or label maps")
    if plate is not None and (cache is None or model is None):
        raise InputError("a plate job needs a parse cache folder and a model folder")
    if target not in targets:
        raise InputError(f"unknown target {target!r} ({', '.join(targets)})")
    params = []
    if plate is not None:
        params.append(_path("Plate", plate, "The plate (image sequence pattern or movie) every node reads.",
                            "FILE", "IN"))
    else:
        params.append(_path("Labels", labels, "Part label maps (sequence pattern) every node reads.", "FILE", "IN"))
    params += [
        {"name": "Frames", "type": "STRING", "default": openjd_range(frames), "minLength": 1,
         "description": "Frames to roto: ranges a-b separated by commas (e.g. 1001-1100)."},
    ]
    if plate is not None:
        params += [
            {"name": "ChunkSize", "type": "INT", "default": int(chunk), "minValue": 1,
             "description": "Frames per parse task (each task loads the model once)."},
            _path("CacheFolder", cache, "The shared parse cache: chunks write into it, the export reads it.",
                  "DIRECTORY", "INOUT"),
            _path("ModelFolder", model, "The M2FP model folder (configuration.json, pytorch_model.pt) on "
                  "the nodes.", "DIRECTORY", "IN"),
        ]
    params += [
        _path("Output", output, "The roto file the export writes.", "FILE", "OUT"),
        {"name": "Target", "type": "STRING", "default": target, "allowedValues": list(targets),
         "description": "Export target (matches Output's extension)."},
    ]
    variables = {"M2FP_ROTO_PROGRESS": "openjd"}
    if plate is not None:
        variables["M2FP_ROTO_MODEL"] = "{{Param.ModelFolder}}"
    plate_param = "{{Param.Plate}}"
    source = [plate_param] if plate is not None else ["--labels", "{{Param.Labels}}"]
    cache_param = "{{Param.CacheFolder}}" if plate is not None else None
    export_cmd = export_command(source, "{{Param.Frames}}", "{{Param.Target}}", "{{Param.Output}}", cache_param,
                                parse_args, export_args)
    export = {"name": "Export", "script": _script(export_cmd)}
    steps = [export]
    if plate is not None:
        export["dependencies"] = [{"dependsOn": "Parse"}]
        steps.insert(0, {
            "name": "Parse",
            "parameterSpace": {"taskParameterDefinitions": [{
                "name": "Frames", "type": "CHUNK[INT]", "range": "{{Param.Frames}}",
                "chunks": {"defaultTaskCount": "{{Param.ChunkSize}}", "rangeConstraint": "CONTIGUOUS"}}]},
            "script": _script(parse_command(plate_param, "{{Task.Param.Frames}}", cache_param, parse_args))})
    template = {"specificationVersion": SPEC}
    if plate is not None:
        template["extensions"] = ["TASK_CHUNKING"]
    template.update({
        "name": name,
        "description": "Tracked roto shapes of people (m2fp-roto): " + (
            "parse chunks of frames into the shared cache, then track and export." if plate is not None
            else "vectorize the label maps, track and export."),
        "parameterDefinitions": params,
        "jobEnvironments": [{"name": "M2fpRoto", "description": "m2fp-roto's model and progress lines.",
                             "variables": variables}],
        "steps": steps,
    })
    return template


def values_path(job_file) -> Path:
    """Where the shot's path values live beside ``job_file`` (``shot_job.yaml`` -> ``shot_job.values.yaml``)."""
    job_file = Path(job_file)
    return job_file.with_name(f"{job_file.stem}.values{job_file.suffix}")


def header(template: dict, job_file: Path) -> str:
    """Comment lines for the top of a YAML job file: how to check and run it."""
    name, values = job_file.name, values_path(job_file).name
    params = {p["name"]: p.get("default") for p in template["parameterDefinitions"]}
    lines = ["Open Job Description job template written by m2fp-roto farm-job.",
             f"The shot's paths (PATH parameters) are in {values}; any value can be given with -p NAME=VALUE.",
             f"  check:             openjd check {name}",
             f"  run on this node:  openjd run {name} -p file://{values} --step Export --run-dependencies"]
    if "ChunkSize" in params:
        first, _, last = params["Frames"].split(",")[0].partition("-")
        end = min(int(first) + int(params["ChunkSize"]) - 1, int(last or first))
        lines.append(f"  one parse chunk:   openjd run {name} -p file://{values} --step Parse "
                     f"--task-param Frames={first}-{end}")
    lines.append("Submit it with your farm's tools (e.g. as an AWS Deadline Cloud job bundle).")
    return "".join(f"# {line}\n" for line in lines)


def write_job(template: dict, job_file) -> tuple[Path, Path]:
    """Write ``template`` and the values of its PATH parameters, atomically: ``job_file``
    (YAML for ``.yaml``/``.yml``, else JSON) and :func:`values_path` beside it.

    Open Job Description joins a PATH default to the template's folder and refuses one outside
    it, so the shot's absolute paths are values given at submission, not defaults.
    """
    job_file = Path(job_file)
    template = copy.deepcopy(template)
    values = {p["name"]: p.pop("default") for p in template["parameterDefinitions"] if p["type"] == "PATH"}
    if job_file.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise InputError("writing YAML needs PyYAML (pip install 'm2fp-roto[dask]'), "
                             "or name the job file .json") from None

        def dump(data):
            return yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)

        text = header(template, job_file) + dump(template)
    else:
        import json

        def dump(data):
            return json.dumps(data, indent=2) + "\n"

        text = dump(template)
    return atomic_write_text(job_file, text), atomic_write_text(values_path(job_file), dump(values))
