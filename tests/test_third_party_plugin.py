"""A real third-party plugin: built as its own distribution in a temp dir, pip-installed into this
environment, discovered through its entry point, used, then uninstalled (docs/writing-plugins.md
walks through the same steps)."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path


PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "segctl-jsondesc"
version = "0.3.1"
dependencies = ["segctl-core"]

[project.entry-points.segctl]
jsondesc = "segctl_jsondesc.plugin"
"""

PLUGIN = '''
"""Entry point: registration only (nothing heavy imported)."""
from segctl import hookimpl
from segctl.specs import ExporterSpec


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(name="jsondesc", target="segctl_jsondesc.exporter:JsonDescExporter",
                         suffix=".desc.json", options=("imgsz",), description="JSON model description")]
'''

EXPORTER = '''
"""Writes a JSON description of the model: layers, parameter count, names."""
import json
from pathlib import Path

from segctl.export.base import Exporter


class JsonDescExporter(Exporter):
    name = "jsondesc"
    suffix = ".desc.json"
    options = ("imgsz",)

    def export(self, model, output, args, deps, metadata):
        desc = {"layers": [type(m).__name__ for m in model.model],
                "params": sum(p.numel() for p in model.parameters()),
                "names": {str(k): v for k, v in metadata["names"].items()}, "imgsz": args["imgsz"]}
        Path(output).write_text(json.dumps(desc))
        return Path(output)

    def write_metadata(self, path, metadata):
        pass

    def verify(self, artifact, model, args, metadata):
        desc = json.loads(Path(artifact).read_text())
        same = desc["params"] == sum(p.numel() for p in model.parameters())
        return {"passed": same, "method": "parameter count"}
'''


def _segctl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "segctl", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_install_list_use_uninstall(tmp_path):
    src = tmp_path / "segctl-jsondesc"
    pkg = src / "src" / "segctl_jsondesc"
    pkg.mkdir(parents=True)
    (src / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(PLUGIN)
    (pkg / "exporter.py").write_text(EXPORTER)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["install", "--no-deps", "--no-build-isolation", str(src)], check=True, timeout=300)
    try:
        p = _segctl("plugins", "--json")
        rec = next(x for x in json.loads(p.stdout)["plugins"] if x["name"] == "jsondesc")
        assert rec["status"] == "ok" and rec["distribution"] == "segctl-jsondesc" and rec["version"] == "0.3.1"
        assert rec["provides"] == {"exporters": ["jsondesc"]}
        p = _segctl("export", "formats")
        assert "jsondesc" in p.stdout
        p = _segctl("export", "model=yolov8n-seg.yaml", "format=jsondesc", "imgsz=64", cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        out = tmp_path / "yolov8n-seg.desc.json"
        desc = json.loads(out.read_text())
        assert desc["params"] == 3404320 and desc["layers"][0] == "Conv"  # exported models are fused (BN folded)
    finally:
        subprocess.run(pip + ["uninstall", "-y", "segctl-jsondesc"], check=True, timeout=120)
    p = _segctl("plugins", "--json")
    assert "jsondesc" not in {x["name"] for x in json.loads(p.stdout)["plugins"]}
