"""The core export pipeline with a dummy folder-format exporter: atomic output, source never
overwritten, NaN refused, verification numbers and failure, chain deps, hook, attribution."""
import sys
import types
from pathlib import Path

import pytest
import torch

from segctl.errors import ExportError, UsageError
from segctl.export import export, load_backend
from segctl.export.backends import Backend
from segctl.export.base import Exporter
from segctl.export.metadata import read_yaml_metadata
from segctl.export.testing import FakeSession, tiny_model
from segctl.specs import BackendSpec, ExporterSpec

MOD = "segctl_test_dummy_export"


class DummyExporter(Exporter):
    name, suffix, is_dir, backend = "dummy", "_dummy_model", True, "dummy"
    options = ("imgsz", "batch", "dynamic")
    calls: list = []

    def export(self, model, output, args, deps, metadata):
        DummyExporter.calls.append(dict(deps))
        output.mkdir()
        torch.save(model.state_dict(), output / "weights.pt")
        self.write_metadata(output, metadata)
        return output


class BrokenExporter(DummyExporter):
    name = "broken"

    def export(self, model, output, args, deps, metadata):
        output.mkdir()
        (output / "half-written").write_text("x")
        raise RuntimeError("boom")


class ChildExporter(DummyExporter):
    name, suffix = "child", "_child_model"


class DummyBackend(Backend):
    noise = 0.0

    def __init__(self, path, device="cpu", session=None):
        self.metadata = read_yaml_metadata(path)
        self.model = tiny_model(nc=self.metadata["nc"])
        self.model.load_state_dict(torch.load(Path(path) / "weights.pt", weights_only=True))

    def __call__(self, x):
        with torch.no_grad():
            pred, proto = self.model(x)
        return pred + self.noise, proto


@pytest.fixture
def session(monkeypatch):
    mod = types.ModuleType(MOD)
    mod.DummyExporter, mod.BrokenExporter, mod.ChildExporter, mod.DummyBackend = (
        DummyExporter, BrokenExporter, ChildExporter, DummyBackend)
    monkeypatch.setitem(sys.modules, MOD, mod)
    monkeypatch.setattr(DummyBackend, "noise", 0.0)
    DummyExporter.calls.clear()
    specs = [
        ExporterSpec(name="dummy", target=f"{MOD}:DummyExporter", suffix="_dummy_model", options=DummyExporter.options,
                     backend="dummy", plugin="dummy-plugin", dist="segctl-dummy", version="9.9"),
        ExporterSpec(name="broken", target=f"{MOD}:BrokenExporter", suffix="_broken_model", backend="dummy",
                     options=("imgsz",), plugin="broken-plugin", dist="segctl-broken", version="1.2.3"),
        ExporterSpec(name="child", target=f"{MOD}:ChildExporter", suffix="_child_model", after=("dummy",),
                     options=("imgsz",), backend="dummy"),
        BackendSpec(name="dummy", target=f"{MOD}:DummyBackend", suffixes=("_dummy_model", "_child_model")),
    ]
    return FakeSession(specs)


@pytest.fixture
def model(tmp_path):
    m = tiny_model(nc=2, names={0: "cat", 1: "dog"})
    src = tmp_path / "best.pt"
    src.write_bytes(b"original weights")
    m.pt_path = str(src)
    return m


def _leftovers(folder: Path):
    return [p.name for p in folder.iterdir() if p.name.startswith(".segctl-export-")]


def test_default_output_metadata_parity_and_hook(session, model, tmp_path):
    out = export(model, session, format="dummy", imgsz=64)
    assert out == tmp_path / "best_dummy_model" and out.is_dir()
    meta = read_yaml_metadata(out)
    assert meta["names"] == {0: "cat", 1: "dog"} and meta["nc"] == 2 and meta["imgsz"] == [64, 64]
    assert meta["task"] == "segment" and meta["stride"] == 32 and meta["segctl_version"]
    assert meta["parity"]["passed"] and meta["parity"]["max_abs_diff"] == 0.0 and meta["parity"]["mask_iou"] == 1.0
    assert [e[0] for e in session.events] == ["on_export_end"] and session.events[0][1]["path"] == out
    assert load_backend(out, session).names == {0: "cat", 1: "dog"}
    assert (tmp_path / "best.pt").read_bytes() == b"original weights"


def test_dynamic_verifies_batch_two_non_square(session, model, tmp_path):
    out = export(model, session, format="dummy", imgsz=96, dynamic=True, output=tmp_path / "d_dummy_model")
    shapes = [s["input"] for s in read_yaml_metadata(out)["parity"]["samples"]]
    assert shapes == [[1, 3, 96, 96], [2, 3, 96, 64]]


def test_source_never_overwritten(session, model, tmp_path):
    with pytest.raises(UsageError, match="is the source model"):
        export(model, session, format="dummy", imgsz=64, output=tmp_path / "best.pt")
    assert (tmp_path / "best.pt").read_bytes() == b"original weights"


def test_nan_model_refused(session, model, tmp_path):
    with torch.no_grad():
        model.cls_heads[0].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ExportError, match="non-finite"):
        export(model, session, format="dummy", imgsz=64)
    assert not (tmp_path / "best_dummy_model").exists() and not _leftovers(tmp_path)


def test_failed_verification_leaves_nothing_and_warn_keeps(session, model, tmp_path, monkeypatch):
    monkeypatch.setattr(DummyBackend, "noise", 0.5)
    with pytest.raises(ExportError, match="beyond tolerance"):
        export(model, session, format="dummy", imgsz=64)
    assert not (tmp_path / "best_dummy_model").exists() and not _leftovers(tmp_path)
    out = export(model, session, format="dummy", imgsz=64, verify="warn")
    parity = read_yaml_metadata(out)["parity"]
    assert parity["passed"] is False and parity["max_abs_diff"] == pytest.approx(0.5, abs=1e-4)


def test_plugin_error_is_attributed_and_cleaned(session, model, tmp_path):
    with pytest.raises(ExportError, match=r"'broken' \(plugin broken-plugin segctl-broken 1.2.3\) failed: RuntimeError: boom"):
        export(model, session, format="broken", imgsz=64)
    assert not _leftovers(tmp_path) and not (tmp_path / "best_broken_model").exists()


def test_re_export_replaces_folder_atomically(session, model, tmp_path):
    first = export(model, session, format="dummy", imgsz=64)
    (first / "stale").write_text("old")
    second = export(model, session, format="dummy", imgsz=64)
    assert first == second and not (second / "stale").exists() and not _leftovers(tmp_path)


def test_chain_passes_dependency_artifacts(session, model, tmp_path):
    out = export(model, session, format="child", imgsz=64)
    assert out == tmp_path / "best_child_model"
    assert DummyExporter.calls == [{}, {"dummy": tmp_path / "best_dummy_model"}]


def test_unsupported_option_for_format(session, model):
    with pytest.raises(UsageError, match="'broken' does not support option 'dynamic'"):
        export(model, session, format="broken", dynamic=True)


def test_int8_verification_uses_the_int8_tolerance_and_note(monkeypatch):
    """``tolerance_int8`` replaces the half tolerance for int8 artifacts; with ``int8_parity_note`` a
    miss only warns and the note is recorded, without it parity is enforced as asked."""
    import segctl.export.verify as verify_mod
    from segctl.export.base import Exporter

    seen = []

    def fake_verify(artifact, model, args, session, tolerance, backend):
        seen.append((args.get("verify"), tolerance, backend))
        return {"max_abs_diff": 1.0}

    monkeypatch.setattr(verify_mod, "verify_artifact", fake_verify)

    class Plain(Exporter):
        name, backend = "plain", "plainrt"

        def export(self, *a):
            raise AssertionError("verify() alone is under test")

    class Noted(Plain):
        tolerance_int8 = {"rtol": 0.1, "atol": 4.0, "iou": 0.5}
        int8_parity_note = "informative only"

    class Strict(Plain):
        tolerance_int8 = {"rtol": 0.2, "atol": 3.0, "iou": 0.8}

    args = {"int8": True, "verify": "error"}
    assert Plain().verify(None, None, args, {}) == {"max_abs_diff": 1.0}
    assert Noted().verify(None, None, args, {}) == {"max_abs_diff": 1.0, "note": "informative only"}
    Strict().verify(None, None, args, {})
    Strict().verify(None, None, {"half": True}, {})
    assert seen == [("error", Plain.tolerance_half, "plainrt"), ("warn", Noted.tolerance_int8, "plainrt"),
                    ("error", Strict.tolerance_int8, "plainrt"), (None, Plain.tolerance_half, "plainrt")]
