"""ncnn plugin: export through PNNX (fp32, half), metadata, parity and the backend.

Uses the real yolov8n-seg architecture (nc=3) at 64 px: the ncnn route depends on the head's
anchor grid folding to constants in the static ONNX graph, which a stand-in model would not test.
Skips only when pnnx or ncnn is not installed.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("pnnx")
ncnn = pytest.importorskip("ncnn")
torch = pytest.importorskip("torch")

from segctl.errors import CheckpointError, UsageError  # noqa: E402
from segctl.export import export, load_backend  # noqa: E402
from segctl.export.metadata import read_yaml_metadata  # noqa: E402
from segctl.export.testing import FakeSession  # noqa: E402
from segctl_export_ncnn import plugin  # noqa: E402
from segctl_export_onnx import plugin as onnx_plugin  # noqa: E402

IMGSZ = 64
N = 8 * 8 + 4 * 4 + 2 * 2


@pytest.fixture(scope="module")
def session():
    specs = [*onnx_plugin.segctl_register_exporters(), *onnx_plugin.segctl_register_backends(),
             *plugin.segctl_register_exporters(), *plugin.segctl_register_backends()]
    return FakeSession(specs)


@pytest.fixture(scope="module")
def model():
    from segctl.nn import build_from_session
    from segctl.session import Session

    torch.manual_seed(0)
    return build_from_session("yolov8n-seg.yaml", Session.create(), nc=3).eval()


@pytest.fixture(scope="module")
def fp32(tmp_path_factory, session, model):
    out = tmp_path_factory.mktemp("ncnn") / "y_ncnn_model"
    return export(model, session, format="ncnn", imgsz=IMGSZ, output=str(out))


def test_plugin_module_is_light():
    code = ("import sys, segctl_export_ncnn.plugin as p; p.segctl_register_exporters(); "
            "assert not {'torch', 'ncnn', 'numpy', 'pnnx'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spec():
    (spec,) = plugin.segctl_register_exporters()
    assert spec.after == ("onnx",) and spec.suffix == "_ncnn_model" and spec.backend == "ncnn"
    assert "half" in spec.options and "dynamic" not in spec.options


def test_dynamic_is_refused_with_supported_options(session, model, tmp_path):
    with pytest.raises(UsageError, match="does not support option 'dynamic'") as e:
        export(model, session, format="ncnn", imgsz=IMGSZ, dynamic=True, output=str(tmp_path / "d_ncnn_model"))
    assert "half" in e.value.hint


def test_folder_and_metadata(fp32):
    assert sorted(p.name for p in fp32.iterdir()) == ["metadata.yaml", "model.ncnn.bin", "model.ncnn.param"]
    meta = read_yaml_metadata(fp32)
    assert meta["format"] == "ncnn" and meta["nc"] == 3 and meta["imgsz"] == [IMGSZ, IMGSZ]
    assert meta["parity"]["passed"] and meta["parity"]["max_abs_diff"] < 1e-3 and meta["parity"]["mask_iou"] >= 0.99
    assert "Input" in (fp32 / "model.ncnn.param").read_text()


def test_backend_batch_and_parity(fp32, session, model):
    backend = load_backend(fp32, session)
    assert backend.names == {0: "class0", 1: "class1", 2: "class2"} and not backend.fp16
    x = torch.rand((2, 3, IMGSZ, IMGSZ), generator=torch.Generator().manual_seed(5))
    pred, proto = backend(x)
    with torch.no_grad():
        rp, rq = model(x)
    assert pred.shape == (2, 4 + 3 + 32, N) and proto.shape == (2, 32, IMGSZ // 4, IMGSZ // 4)
    torch.testing.assert_close(pred, rp, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(proto, rq, atol=1e-3, rtol=1e-3)


def test_backend_refuses_other_sizes(fp32, session):
    with pytest.raises(UsageError, match="takes 64x64 inputs"):
        load_backend(fp32, session)(torch.rand(1, 3, 96, 64))


def test_incomplete_folder_is_a_clear_error(fp32, tmp_path, session):
    broken = tmp_path / "b_ncnn_model"
    broken.mkdir()
    (broken / "model.ncnn.param").write_text((fp32 / "model.ncnn.param").read_text())
    with pytest.raises(CheckpointError, match="model.ncnn.bin is missing"):
        load_backend(broken, session)


@pytest.mark.slow
def test_half_stores_fp16_weights(fp32, session, model, tmp_path):
    out = export(model, session, format="ncnn", imgsz=IMGSZ, half=True, output=str(tmp_path / "h_ncnn_model"))
    assert (out / "model.ncnn.bin").stat().st_size < 0.6 * (fp32 / "model.ncnn.bin").stat().st_size
    backend = load_backend(out, session)
    assert backend.fp16 and backend.metadata["parity"]["passed"]
    pred, proto = backend(torch.rand(1, 3, IMGSZ, IMGSZ))
    assert pred.shape == (1, 39, N) and torch.isfinite(pred).all()
