"""Intermediate artifacts of an ``after=`` chain are written beside the requested artifact, never
into the working directory."""
from pathlib import Path

from segctl import hookimpl
from segctl.export import export
from segctl.export.base import Exporter
from segctl.export.testing import tiny_model
from segctl.session import Session
from segctl.specs import ExporterSpec


class CopyOnnx(Exporter):
    """A toy format built on ONNX: it only copies the ONNX artifact it was given."""

    name, suffix, options, after = "copyonnx", ".copy", ("imgsz",), ("onnx",)

    def export(self, model, output, args, deps, metadata):
        Path(output).write_bytes(Path(deps["onnx"]).read_bytes())
        return Path(output)

    def verify(self, artifact, model, args, metadata):
        return {"passed": Path(artifact).stat().st_size > 0, "method": "size"}


class _Plugin:
    @hookimpl
    def segctl_register_exporters(self):
        return [ExporterSpec(name="copyonnx", target=f"{__name__}:CopyOnnx", suffix=".copy", options=("imgsz",),
                             after=("onnx",))]


def test_chain_intermediates_beside_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    session = Session.create(extra=[("copyonnx", _Plugin())])
    out = export(tiny_model(), session, format="copyonnx", imgsz=64, output=str(tmp_path / "out" / "net.copy"))
    assert out == tmp_path / "out" / "net.copy" and out.stat().st_size > 0
    assert (tmp_path / "out" / "net.onnx").exists()
    assert not (tmp_path / "model.onnx").exists()


def test_relative_model_path_gives_absolute_artifacts(tmp_path, monkeypatch):
    """Later chain steps (onnx2tf, pnnx, ...) may run in another directory: paths are absolute."""
    fixture = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics" / "yolov8n-seg-shapes.pt"
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "best.pt").write_bytes(fixture.read_bytes())
    monkeypatch.chdir(tmp_path)
    session = Session.create(extra=[("copyonnx", _Plugin())])
    out = export("w/best.pt", session, format="copyonnx", imgsz=64)
    assert out.is_absolute() and out == tmp_path / "w" / "best.copy"
    assert (tmp_path / "w" / "best.onnx").exists()
