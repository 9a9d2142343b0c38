"""``m2fp-roto farm-job --format opencue``: OpenCue job specs, valid against OpenCue's published DTD.

No Cuebot can run here (it is a Java service shipped as a jar or container), so the spec is
checked the way Cuebot itself checks it: validated against ``cjsl-1.15.dtd`` (copied from
OpenCue, see tests/data/opencue/README.md), plus Cuebot's naming rules; the export layer's
command is then run through ``/bin/sh`` as RQD runs it, on a label-map shot.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from conftest import need
from support.farm_fixtures import labels_folder, model_plate, tiny_model  # noqa: F401

etree = need("lxml.etree", "pip install -e '.[test]'")

from m2fp_roto.cli.main import main  # noqa: E402

DTD = Path(__file__).parent / "data" / "opencue" / "cjsl-1.15.dtd"
CUE_NAME = re.compile(r"^[\w.-]{3,}$")  # Cuebot's JobSpec.NAME_REGEX


def farm_job(*args):
    result = CliRunner().invoke(main, ["farm-job", "--format", "opencue", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def valid_spec(path: Path):
    doc = etree.parse(str(path))
    dtd = etree.DTD(str(DTD))
    assert dtd.validate(doc), dtd.error_log.filter_from_errors()
    assert doc.docinfo.system_url == "http://localhost:8080/spcue/dtd/cjsl-1.15.dtd"  # Cuebot maps it to its DTD
    root = doc.getroot()
    for name in [root.findtext(t) for t in ("show", "shot")] + root.xpath("//job/@name | //layer/@name"):
        assert CUE_NAME.match(name), name
    return root


def test_plate_spec(model_plate, tiny_model, tmp_path):
    spec = tmp_path / "sh 010" / "sh010_job.xml"
    farm_job(model_plate / "shot.####.png", "--chunk", 3, "--show", "roto-tests", "--model", tiny_model,
             "--precision", "bf16", "--cache", tmp_path / "parse cache", "-o", spec)
    root = valid_spec(spec)
    assert root.findtext("show") == "roto_tests" and root.findtext("shot") == "shot"
    parse, export = root.findall("job/layers/layer")
    assert (parse.get("name"), parse.findtext("range"), parse.findtext("chunk")) == ("parse", "1001-1004", "3")
    assert (export.get("name"), export.findtext("range"), export.findtext("chunk")) == ("export", "1001", "1")
    cmd = parse.findtext("cmd")
    assert "--frames #FRAMESPEC#" in cmd and "--precision bf16" in cmd
    assert f"--cache '{tmp_path / 'parse cache'}'" in cmd  # shell-quoted: RQD runs it through /bin/sh
    assert "--precision bf16" in export.findtext("cmd") and "--target nuke" in export.findtext("cmd")
    assert root.find("job/env/key[@name='M2FP_ROTO_MODEL']").text == str(tiny_model)
    depend = root.find("depends/depend")
    assert depend.get("type") == "LAYER_ON_LAYER"
    assert [depend.findtext(t) for t in ("deplayer", "onlayer")] == ["export", "parse"]


def test_label_map_spec_runs_as_rqd_would(labels_folder, tmp_path):
    labels, people = labels_folder / "labels" / "parts.####.png", labels_folder / "people" / "people.####.png"
    spec = tmp_path / "labels_job.xml"
    farm_job("--labels", labels, "--people", people, "--frames", "1001-1003", "--roto", tmp_path / "out dir" / "r.json",
             "-o", spec)
    root = valid_spec(spec)
    layers = root.findall("job/layers/layer")
    assert [layer.get("name") for layer in layers] == ["export"] and root.find("depends") is None
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(["/bin/sh", "-c", layers[0].findtext("cmd")], check=True, timeout=120, capture_output=True, env=env)

    from m2fp_roto import exporters
    from m2fp_roto.pipeline import build_document
    from m2fp_roto.sources.labelmaps import LabelMapSource

    doc = build_document(LabelMapSource(str(labels), str(people), frames="1001-1003"))
    exporters.write(doc, tmp_path / "one process.json", "json")
    assert (tmp_path / "out dir" / "r.json").read_bytes() == (tmp_path / "one process.json").read_bytes()


def test_bad_names_and_suffix(labels_folder, tmp_path):
    labels = labels_folder / "labels" / "parts.####.png"
    for args, message in [(("--show", "x"), "needs at least 3"), (("-o", tmp_path / "job.yaml"), "name it .xml")]:
        out = ["-o", tmp_path / "job.xml"] if "-o" not in args else []
        result = CliRunner().invoke(main, ["farm-job", "--format", "opencue", "--labels", str(labels),
                                           *map(str, args), *map(str, out)])
        assert result.exit_code == 2 and message in result.output, result.output
