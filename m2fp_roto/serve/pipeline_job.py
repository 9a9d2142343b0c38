"""What a roto job does, stage by stage, on the CLI's own pipeline.

``unpack`` (open the input, checking every file's header against the pixel limit before a
pixel is decoded) -> ``parse`` (pictures only: M2FP through ``PlateParsingSource``, cached in
the job's ``work/cache``) -> ``vectorize`` and ``track`` (``build_document``) -> ``export``
(every target through ``exporters.write``) -> ``frames`` (masks, part maps, pictures for the
page, QC previews).
"""

from __future__ import annotations

from pathlib import Path

from ..progress import Progress
from ..qc import KINDS
from .errors import ApiError
from .outputs import FrameOutputs, write_targets
from .uploads import ZipPlan, check_pixels, extract_zip, image_size


class JobRun:
    """One run of a job: ``JobRun(folder, request, reporter, sink).run()`` -> final status fields."""

    def __init__(self, folder, request: dict, reporter, sink):
        self.folder, self.request, self.reporter, self.sink = folder, request, reporter, sink

    @staticmethod
    def stages_for(request: dict) -> list[str]:
        return (["unpack"] + (["parse"] if request["mode"] == "pictures" else []) + ["vectorize"]
                + (["track"] if request["track"] else []) + ["export", "frames"])

    # -- input -------------------------------------------------------------------------
    def _inputs(self) -> dict:
        """role (labels, people, frames) -> a file, folder or pattern to read."""
        inp = self.request["input"]
        if inp["kind"] == "server":
            return {k: inp[k] for k in ("plate", "labels", "people") if inp.get(k)}
        path = self.folder.input / inp["file"]
        if inp["kind"] != "zip":
            return {"plate": path, "labels": path}
        plan = ZipPlan({role: [tuple(m) for m in members] for role, members in inp["plan"].items()})
        dirs = extract_zip(path, plan, self.folder.work / "unpacked")
        return {"plate": dirs.get("frames"), "labels": dirs.get("labels") or dirs.get("frames"),
                "people": dirs.get("people")}

    def _check_headers(self, spec) -> None:
        """Every file of ``spec`` (a file, folder or pattern) within --max-pixels, from headers."""
        from ..sources.frames import find_sequence

        path = Path(str(spec))
        if path.is_file() and path.suffix.lower() in (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".mxf", ".avi"):
            return  # a movie: its stream header is checked once opened
        files = [path] if path.is_file() else list(find_sequence(spec, self.request.get("frames"),
                                                                 what="frames").paths.values())
        for file in files:
            size = image_size(file)
            if size:
                check_pixels(*size, self.request["max_pixels"], f"frame {file.name}")

    def open_source(self):
        from ..labelsets import get_label_set

        r = self.request
        inputs = self._inputs()
        frames = r.get("frames")
        if r["mode"] == "labels":
            from ..sources.labelmaps import LabelMapSource

            for role in ("labels", "people"):
                if inputs.get(role):
                    self._check_headers(inputs[role])
            single = Path(str(inputs["labels"])).is_file()
            if single and r.get("first_frame") is not None and not frames:
                frames = str(r["first_frame"])
            get_label_set(r["label_set"])
            return LabelMapSource(str(inputs["labels"]), inputs.get("people") and str(inputs["people"]),
                                  label_set=r["label_set"], frames=frames, fps=r.get("fps") or 24.0,
                                  pixel_aspect=r.get("pixel_aspect") or 1.0)
        from ..cli.plate import make_parser
        from ..sources.plate import open_plate
        from ..sources.plate_parsing import PlateParsingSource

        if not inputs.get("plate"):
            raise ApiError(400, "this input holds label maps (a labels/ folder); send it as label maps")
        self._check_headers(inputs["plate"])
        plate = open_plate(str(inputs["plate"]), frames, colorspace=r.get("colorspace"),
                           first_frame=r.get("first_frame"), fps=r.get("fps"))
        check_pixels(plate.width, plate.height, r["max_pixels"], "the plate")
        source = PlateParsingSource.open(plate, make_parser(**r["model"]), self.folder.work / "cache")
        if r.get("pixel_aspect"):
            source.pixel_aspect = float(r["pixel_aspect"])
        return source

    # -- the run -----------------------------------------------------------------------
    def run(self) -> dict:
        from ..pipeline import build_document
        from ..tracking.track import TrackOptions
        from ..vectorize import VectorizeOptions

        r, rep = self.request, self.reporter
        rep.stage("unpack")
        source = self.open_source()
        frames = list(source.frames)
        if len(frames) > r["max_frames"]:
            raise ApiError(413, f"the input has {len(frames)} frames; a job takes at most {r['max_frames']} "
                                "(--max-frames); pick a range with 'frames'")
        check_pixels(source.width, source.height, r["max_pixels"], "the input")
        rep.set(frames=frames, width=source.width, height=source.height, fps=source.fps,
                label_set=source.label_set.name)
        if r["mode"] == "pictures":
            rep.stage("parse")
            with Progress(len(frames), "parse", stream=self.sink) as bar:
                for _ in source.parse_frames(progress=lambda done, total, frame: bar.advance()):
                    pass
            frames = list(source.frames)
        rep.stage("vectorize")
        doc = build_document(source, options=VectorizeOptions(**r["vectorize"]), track=r["track"],
                             track_options=TrackOptions(**r["track_options"]),
                             temporal_window=r.get("temporal_window", 1),
                             progress=Progress(len(frames), "vectorize", stream=self.sink), workers=1)
        doc.source = r["input"]["name"]
        if r["mode"] == "pictures" and r["input"]["kind"] != "server":
            doc.plate = Path(str(getattr(source, "plate", "") or r["input"]["name"])).name
        doc = doc.select(r.get("people"), r.get("parts"))
        rep.stage("export")
        files = write_targets(doc, r["targets"], r["target_options"], self.folder, self.sink)
        rep.stage("frames")
        outputs = FrameOutputs(self.folder, doc, source, pictures=r["mode"] == "pictures")
        with Progress(len(frames), "frames", stream=self.sink) as bar:
            for frame in frames:
                outputs.add(frame)
                bar.advance()
        files += outputs.finish()
        parts = sorted({s.part for s in doc.shapes})
        n = len(doc.people)
        span = f"frame {doc.first_frame}" if doc.first_frame == doc.last_frame else \
            f"frames {doc.first_frame}-{doc.last_frame}"
        return {"message": f"{len(doc.shapes)} shapes of {n} {'person' if n == 1 else 'people'} over {span}",
                "files": files, "frames": frames, "shapes": len(doc.shapes), "people": doc.people,
                "parts": parts, "page": outputs.page, "qc": {k: outputs.qc[k] for k in KINDS}}
