"""CoreML plugin: export (fp32, half, int8), the model's interface and metadata, and the backend.

Core ML prediction exists only on macOS: there the numeric parity test runs; elsewhere it skips for
that reason alone, and what coremltools *can* do on Linux stands in for it: the interface checks, the
ML Program's ops (fp16 casts, int8 dequantise ops) and the stored weights read back from the package
and compared with the PyTorch model's. ``make test`` runs this suite in ``.venv-coreml`` (CI builds it).
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


def _program_ops(package) -> list:
    spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()
    fn = spec.mlProgram.functions["main"]
    return list(fn.block_specializations[fn.opset].operations)


@pytest.mark.slow
@pytest.mark.parametrize("option", ["fp32", "half", "int8"])
def test_stored_weights_are_the_models(fp32, session, model, tmp_path, option):
    """The weights coremltools reads back from the package (on Linux too) are the fused PyTorch
    model's conv kernels: equal in fp32, within fp16 rounding for half, within half an int8 step for
    int8 (whose program dequantises them with constexpr ops)."""
    import copy

    out = fp32 if option == "fp32" else export(model, session, format="coreml", imgsz=IMGSZ, **{option: True},
                                               output=str(tmp_path / f"{option}.mlpackage"))
    fused = copy.deepcopy(model).fuse()
    torch_w = {k.replace(".", "_"): v.numpy() for k, v in fused.state_dict().items() if v.ndim == 4}
    ml = ct.models.MLModel(str(out), skip_model_load=True)
    meta = {k: m.val for k, m in ct.optimize.coreml.get_weights_metadata(ml, weight_threshold=0).items()}
    axes = {op.outputs[0].name.removesuffix("_quantized"): op.attributes["axis"].immediateValue.tensor.ints.values[0]
            for op in _program_ops(out) if op.type == "constexpr_affine_dequantize"}
    stored, steps, quantised = {}, {}, 0
    for k, v in meta.items():
        if k.endswith("_quantized_quantized_data_0"):  # int8: a scale and zero point per channel of `axis`
            base = k.removesuffix("_quantized_quantized_data_0")
            shape = [1] * v.ndim
            shape[axes[base]] = -1
            scale = meta[f"{base}_quantized_scale_0"].reshape(shape)
            zero = meta[f"{base}_quantized_zero_point_0"].reshape(shape).astype("float32")
            stored[base], steps[base] = (v.astype("float32") - zero) * scale, scale
            quantised += 1
        elif getattr(v, "ndim", 0) == 4:
            base = k.removesuffix("_to_fp16")
            stored[base] = v.astype("float32")
            steps[base] = abs(torch_w.get(base, v)).max() * 2 ** -10 if v.dtype.name == "float16" else 0.0
    common = sorted(set(stored) & set(torch_w))
    assert len(common) >= 0.95 * len(torch_w)
    for k in common:
        assert (abs(stored[k] - torch_w[k]) <= steps[k] / 2 + 1e-7).all(), k
    assert (quantised >= 0.8 * len(torch_w)) == (option == "int8")
    ops = [op.type for op in _program_ops(out)]
    if option == "int8":
        assert ops.count("constexpr_affine_dequantize") >= 0.8 * ops.count("conv")
    elif option == "half":
        assert "cast" in ops and "constexpr_affine_dequantize" not in ops
    else:
        assert "cast" not in ops and "constexpr_affine_dequantize" not in ops
