"""TensorRT plugin: availability without a GPU (everywhere), the engine file layout (everywhere),
and the real build/run/parity (only where CUDA and TensorRT exist; skipped otherwise, for that
reason only)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from segctl.errors import CheckpointError, MissingDependencyError
from segctl_export_tensorrt import plugin
from segctl_export_tensorrt.engine_file import pack, read_engine, replace_metadata, unpack, write_engine


def test_plugin_module_is_light():
    code = ("import sys, segctl_export_tensorrt.plugin as p; p.segctl_register_exporters(); "
            "assert not {'torch', 'tensorrt', 'numpy'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_gpu_means_unavailable_with_reason(monkeypatch):
    monkeypatch.setattr(plugin, "cuda_present", lambda: False)
    (spec,) = plugin.segctl_register_exporters()
    assert spec.description == "not available on this machine: needs CUDA and TensorRT"
    assert "CUDA" in spec.missing() and not spec.available
    assert spec.install_hint().startswith("not available on this machine: needs CUDA and TensorRT")
    assert spec.after == ("onnx",) and spec.suffix == ".engine" and "tensorrt" in spec.aliases
    assert {"half", "int8", "dynamic", "workspace", "data"} <= set(spec.options)
    (backend,) = plugin.segctl_register_backends()
    assert "CUDA" in backend.missing()


def test_gpu_machine_lists_only_packages(monkeypatch):
    monkeypatch.setattr(plugin, "cuda_present", lambda: True)
    (spec,) = plugin.segctl_register_exporters()
    assert "CUDA" not in spec.requires and spec.description.startswith("TensorRT engine")


def test_cuda_visible_devices_empty_hides_the_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert plugin.cuda_present() is False


def test_export_exits_3_without_gpu(monkeypatch, tmp_path):
    from segctl.export import export
    from segctl.export.testing import FakeSession, tiny_model
    from segctl_export_onnx import plugin as onnx_plugin

    monkeypatch.setattr(plugin, "cuda_present", lambda: False)
    session = FakeSession([*onnx_plugin.segctl_register_exporters(), *plugin.segctl_register_exporters()])
    with pytest.raises(MissingDependencyError) as e:
        export(tiny_model(), session, format="engine", imgsz=64, output=str(tmp_path / "m.engine"))
    assert e.value.exit_code == 3 and "CUDA" in str(e.value)
    assert "not available on this machine" in e.value.hint
    assert list(tmp_path.iterdir()) == []  # nothing exported, not even the ONNX step


def test_cli_formats_and_exit_code(tmp_path):
    """End to end through the installed CLI (this plugin's entry point must be installed)."""
    from importlib.metadata import entry_points

    if not any(ep.value == "segctl_export_tensorrt.plugin" for ep in entry_points(group="segctl")):
        pytest.skip("segctl-export-tensorrt is not installed as a distribution in this environment")
    if plugin.cuda_present():
        pytest.skip("this machine has an NVIDIA GPU: the format is available here")
    env = {"COLUMNS": "250"}
    import os

    env = {**os.environ, **env}
    table = subprocess.run([sys.executable, "-m", "segctl", "export", "formats"], capture_output=True, text=True,
                           env=env, check=True).stdout
    assert "format=engine" in table and "not available on this machine: needs CUDA and TensorRT" in table
    model = tmp_path / "m.pt"
    model.write_bytes(b"not used: the format check comes first")
    run = subprocess.run([sys.executable, "-m", "segctl", "export", "format=engine", f"model={model}"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 3, run.stdout + run.stderr


# ---------------------------------------------------------------- engine file layout
def test_engine_file_round_trip(tmp_path):
    meta = {"names": {0: "a", 1: "b"}, "imgsz": [64, 64], "half": True}
    path = tmp_path / "m.engine"
    write_engine(path, meta, b"\x00ENGINE\xff")
    got, blob = read_engine(path)
    assert got["names"] == {0: "a", 1: "b"} and got["imgsz"] == [64, 64] and blob == b"\x00ENGINE\xff"
    replace_metadata(path, {**meta, "parity": {"passed": True}})
    got, blob = read_engine(path)
    assert got["parity"] == {"passed": True} and blob == b"\x00ENGINE\xff"


def test_engine_header_matches_documented_layout():
    data = pack({"task": "segment"}, b"xyz")
    n = int.from_bytes(data[:4], "little")
    assert json.loads(data[4:4 + n]) == {"task": "segment"} and data[4 + n:] == b"xyz"


@pytest.mark.parametrize("data", [b"", b"\x01\x00", b"\xff\xff\xff\x7fjunk", (5).to_bytes(4, "little") + b"{bad}xx",
                                  (2).to_bytes(4, "little") + b"[]"])
def test_bad_engine_files_are_refused(data):
    with pytest.raises(CheckpointError):
        unpack(data, "bad.engine")


# ---------------------------------------------------------------- real TensorRT (GPU machines)
@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize("options", [{}, {"half": True}, {"dynamic": True, "batch": 2}])
def test_engine_export_parity(tmp_path, options):
    torch = pytest.importorskip("torch")
    pytest.importorskip("tensorrt")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from segctl.export import export, load_backend
    from segctl.nn import build_from_session
    from segctl.session import Session

    session = Session.create()
    model = build_from_session("yolov8n-seg.yaml", session, nc=3)
    out = export(model, session, format="engine", imgsz=128, output=str(tmp_path / "y.engine"), **options)
    backend = load_backend(out, session)
    assert backend.metadata["parity"]["passed"] and backend.metadata["tensorrt"]["version"]
    pred, proto = backend(torch.rand(options.get("batch", 1), 3, 128, 128))
    assert pred.shape == (options.get("batch", 1), 39, 16 * 16 + 8 * 8 + 4 * 4) and proto.shape[1:] == (32, 32, 32)


def test_calibration_images_from_a_folder(tmp_path):
    np = pytest.importorskip("numpy")
    cv2 = pytest.importorskip("cv2")
    from segctl.errors import UsageError
    from segctl.export.calib import calibration_images

    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((30, 50, 3), 40 * i, np.uint8))
    batch = calibration_images(str(tmp_path), None, [64, 64])
    assert len(batch) == 4 and batch[0].shape == (1, 3, 64, 64)
    with pytest.raises(UsageError, match="int8=True needs calibration images"):
        calibration_images(None, None, [64, 64])


def test_cuda_index_parsing():
    from segctl.errors import UsageError
    from segctl_export_tensorrt.exporter import cuda_index

    assert cuda_index("cpu") == 0 and cuda_index("0") == 0 and cuda_index("cuda:1") == 1 and cuda_index(None) == 0
    with pytest.raises(UsageError):
        cuda_index("mps")
