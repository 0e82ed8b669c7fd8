"""CoreML plugin: export (fp32, half, int8), the model's interface and metadata, and the backend.

Core ML prediction exists only on macOS: there the numeric parity test runs; elsewhere it skips for
that reason alone, and the interface checks (which run everywhere) stand in for it.
"""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

ct = pytest.importorskip("coremltools")
torch = pytest.importorskip("torch")

from segctl.errors import CheckpointError, UsageError  # noqa: E402
from segctl.export import export, load_backend  # noqa: E402
from segctl.export.testing import FakeSession  # noqa: E402
from segctl_export_coreml import plugin  # noqa: E402
from segctl_export_coreml.spec_check import check_spec, expected_outputs, read_metadata  # noqa: E402

IMGSZ = 64


@pytest.fixture(scope="module")
def session():
    return FakeSession([*plugin.segctl_register_exporters(), *plugin.segctl_register_backends()])


@pytest.fixture(scope="module")
def model():
    from segctl.nn import build_from_session
    from segctl.session import Session

    torch.manual_seed(0)
    return build_from_session("yolov8n-seg.yaml", Session.create(), nc=3).eval()


@pytest.fixture(scope="module")
def fp32(tmp_path_factory, session, model):
    return export(model, session, format="coreml", imgsz=IMGSZ, output=str(tmp_path_factory.mktemp("cm") / "y.mlpackage"))


def _weights_size(pkg):
    return sum(p.stat().st_size for p in pkg.rglob("*") if p.is_file() and "weights" in p.parts)


def test_plugin_module_is_light():
    code = ("import sys, segctl_export_coreml.plugin as p; p.segctl_register_exporters(); "
            "assert not {'torch', 'coremltools', 'numpy'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_interface_and_metadata(fp32):
    spec = ct.models.MLModel(str(fp32), skip_model_load=True).get_spec()
    (inp,) = spec.description.input
    assert inp.name == "image" and inp.type.imageType.height == IMGSZ and inp.type.imageType.width == IMGSZ
    outs = {o.name: list(o.type.multiArrayType.shape) for o in spec.description.output}
    assert outs == {"output0": [1, 39, 84], "output1": [1, 32, 16, 16]}
    meta = read_metadata(fp32)
    assert meta["names"] == {0: "class0", 1: "class1", 2: "class2"} and meta["stride"] == 32
    assert meta["imgsz"] == [IMGSZ, IMGSZ] and meta["task"] == "segment" and meta["half"] is False
    assert meta["parity"]["passed"]
    if sys.platform != "darwin":
        assert meta["parity"]["method"].startswith("spec") and math.isnan(meta["parity"]["max_abs_diff"])


def test_fp32_keeps_fp32_weights(fp32, model):
    """coremltools would default an ML Program to fp16; fp32 must be asked for (4 bytes a weight)."""
    n = sum(p.numel() for p in model.parameters())
    assert _weights_size(fp32) > 3.5 * n


def test_check_spec_catches_wrong_metadata(fp32):
    meta = read_metadata(fp32)
    assert check_spec(fp32, meta)["passed"]
    bad = {**meta, "imgsz": [96, 96], "names": {0: "x"}, "nc": 1}
    result = check_spec(fp32, bad)
    assert not result["passed"] and any("input is 64x64" in p for p in result["problems"])
    assert any(p.startswith("metadata names") for p in result["problems"])


def test_expected_outputs_from_strides():
    assert expected_outputs({"imgsz": [64, 96], "nc": 2, "strides": [8, 16, 32]}) == {
        "output0": [1, 38, 8 * 12 + 4 * 6 + 2 * 3], "output1": [1, 32, 16, 24]}


def test_unreadable_package_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mlpackage"
    bad.mkdir()
    with pytest.raises(CheckpointError, match="not a readable CoreML model"):
        read_metadata(bad)


@pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs on macOS")
def test_backend_refuses_off_macos(fp32, session):
    with pytest.raises(UsageError, match="only be run on macOS"):
        load_backend(fp32, session)


@pytest.mark.skipif(sys.platform != "darwin", reason="Core ML prediction needs macOS")
def test_backend_parity_on_macos(fp32, session, model):
    backend = load_backend(fp32, session)
    x = (torch.rand(2, 3, IMGSZ, IMGSZ) * 255).round() / 255  # exact 8-bit pixels
    pred, proto = backend(x)
    with torch.no_grad():
        rp, rq = model(x)
    assert pred.shape == rp.shape and proto.shape == rq.shape
    torch.testing.assert_close(pred, rp, atol=5e-2, rtol=2e-2)


@pytest.mark.slow
@pytest.mark.parametrize("option, ratio", [("half", 0.6), ("int8", 0.35)])
def test_reduced_precision_shrinks_weights(fp32, session, model, tmp_path, option, ratio):
    out = export(model, session, format="coreml", imgsz=IMGSZ, output=str(tmp_path / f"{option}.mlpackage"),
                 **{option: True})
    assert _weights_size(out) < ratio * _weights_size(fp32)
    meta = read_metadata(out)
    assert meta[option] is True and meta["parity"]["passed"]
