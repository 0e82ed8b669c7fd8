"""OpenVINO plugin: export (fp32, fp16, int8, dynamic, nms), metadata, parity and the backend.

Uses the core's tiny stand-in model at 64 px so each export takes seconds; one slow test runs the
real yolov8n-seg architecture. Skips only when the OpenVINO runtime is not installed.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

ov = pytest.importorskip("openvino")
torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from segctl.errors import CheckpointError, UsageError  # noqa: E402
from segctl.export import export, load_backend  # noqa: E402
from segctl.export.metadata import read_yaml_metadata  # noqa: E402
from segctl.export.testing import FakeSession, tiny_model  # noqa: E402
from segctl_export_onnx import plugin as onnx_plugin  # noqa: E402
from segctl_export_openvino import plugin  # noqa: E402
from segctl_export_openvino.exporter import artifact_stem  # noqa: E402

IMGSZ = 64


@pytest.fixture(scope="module")
def session():
    specs = [*onnx_plugin.segctl_register_exporters(), *onnx_plugin.segctl_register_backends(),
             *plugin.segctl_register_exporters(), *plugin.segctl_register_backends()]
    return FakeSession(specs)


@pytest.fixture(scope="module")
def model():
    return tiny_model(nc=3)


@pytest.fixture(scope="module")
def fp32(tmp_path_factory, session, model):
    out = tmp_path_factory.mktemp("ov") / "tiny_openvino_model"
    return export(model, session, format="openvino", imgsz=IMGSZ, output=str(out))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    import cv2

    folder = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(0)
    for i in range(6):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 255, (48 + 8 * i, 80, 3), dtype=np.uint8))
    return folder


def _sample(b=1, h=IMGSZ, w=IMGSZ):
    return torch.rand((b, 3, h, w), generator=torch.Generator().manual_seed(3))


def test_plugin_module_is_light():
    code = ("import sys, segctl_export_openvino.plugin as p; p.segctl_register_exporters(); "
            "assert not {'torch', 'openvino', 'numpy', 'nncf'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spec_declares_chain_and_suffix():
    (spec,) = plugin.segctl_register_exporters()
    assert spec.after == ("onnx",) and spec.suffix == "_openvino_model" and spec.backend == "openvino"
    assert {"half", "int8", "dynamic", "data"} <= set(spec.options)
    assert spec.install == "pip install openvino==2026.4.1 nncf==3.4.0"  # the runtime, pinned as tested


def test_artifact_stem_strips_core_temp_prefix(tmp_path):
    assert artifact_stem(tmp_path / ".segctl-export-0a1b2c3d-best_openvino_model", "_openvino_model") == "best"
    assert artifact_stem(tmp_path / "best_openvino_model", "_openvino_model") == "best"


def test_fp32_folder_metadata_and_parity(fp32, model):
    assert sorted(p.name for p in fp32.iterdir()) == ["metadata.yaml", "tiny.bin", "tiny.xml"]
    meta = read_yaml_metadata(fp32)
    assert meta["format"] == "openvino" and meta["names"] == {0: "class0", 1: "class1", 2: "class2"}
    assert meta["imgsz"] == [IMGSZ, IMGSZ] and meta["half"] is False and meta["int8"] is False
    assert meta["parity"]["passed"] and meta["parity"]["max_abs_diff"] < 1e-3


def test_backend_matches_torch(fp32, model, session):
    backend = load_backend(fp32, session)
    assert backend.names == {0: "class0", 1: "class1", 2: "class2"} and backend.stride == [8.0, 16.0, 32.0]
    x = _sample()
    pred, proto = backend(x)
    with torch.no_grad():
        rp, rq = model(x)
    assert pred.shape == rp.shape == (1, 4 + 3 + 32, (8 * 8 + 4 * 4 + 2 * 2))
    assert proto.shape == rq.shape == (1, 32, IMGSZ // 4, IMGSZ // 4)
    assert pred.dtype == torch.float32
    torch.testing.assert_close(pred, rp, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(proto, rq, atol=1e-3, rtol=1e-3)


def test_static_artifact_refuses_other_batch(fp32, session):
    backend = load_backend(fp32, session)
    with pytest.raises(RuntimeError):
        backend(_sample(b=2))


def test_missing_xml_is_a_clear_error(tmp_path, session):
    folder = tmp_path / "broken_openvino_model"
    folder.mkdir()
    with pytest.raises(CheckpointError, match="expected one OpenVINO .xml"):
        load_backend(folder, session)


def test_half_keeps_fp32_io(tmp_path, session, model):
    out = export(model, session, format="openvino", imgsz=IMGSZ, half=True, output=str(tmp_path / "h_openvino_model"))
    core = ov.Core()
    m = core.read_model(str(out / "h.xml"))
    assert m.inputs[0].get_element_type() == ov.Type.f32
    consts = [op for op in m.get_ordered_ops() if op.get_type_name() == "Constant" and op.get_output_size()]
    assert any(c.get_output_element_type(0) == ov.Type.f16 for c in consts)
    meta = read_yaml_metadata(out)
    assert meta["half"] is True and meta["parity"]["passed"]
    assert load_backend(out, session).fp16


def test_int8_needs_data(tmp_path, session, model):
    with pytest.raises(UsageError, match="int8=True needs calibration images"):
        export(model, session, format="openvino", imgsz=IMGSZ, int8=True, output=str(tmp_path / "q_openvino_model"))
    assert not (tmp_path / "q_openvino_model").exists()


@pytest.mark.slow
def test_int8_is_quantised_and_close(tmp_path, session, model, images):
    pytest.importorskip("nncf")
    out = export(model, session, format="openvino", imgsz=IMGSZ, int8=True, data=str(images), verify="warn",
                 output=str(tmp_path / "q_openvino_model"))
    m = ov.Core().read_model(str(out / "q.xml"))
    assert sum(op.get_type_name() == "FakeQuantize" for op in m.get_ordered_ops()) >= 5
    meta = read_yaml_metadata(out)
    assert meta["int8"] is True and meta["parity"]["max_abs_diff"] < 4.0
    pred, proto = load_backend(out, session)(_sample())
    assert pred.shape == (1, 39, 84) and torch.isfinite(pred).all()


@pytest.mark.slow
def test_dynamic_runs_other_batch_and_size(tmp_path, session, model):
    out = export(model, session, format="openvino", imgsz=IMGSZ, dynamic=True, output=str(tmp_path / "d_openvino_model"))
    backend = load_backend(out, session)
    assert backend.dynamic
    x = _sample(b=2, h=IMGSZ, w=96)
    pred, proto = backend(x)
    with torch.no_grad():
        rp, rq = model(x)
    torch.testing.assert_close(pred, rp, atol=1e-3, rtol=1e-3)
    assert proto.shape == (2, 32, IMGSZ // 4, 96 // 4)


@pytest.mark.slow
def test_nms_outputs(tmp_path, session, model):
    pytest.importorskip("torchvision")
    out = export(model, session, format="openvino", imgsz=IMGSZ, nms=True, conf=0.1,
                 output=str(tmp_path / "n_openvino_model"))
    res = load_backend(out, session)(_sample())
    assert set(res) == {"boxes", "scores", "classes", "masks", "num"}
    assert res["boxes"].shape[-1] == 4 and res["masks"].shape[-2:] == (IMGSZ // 4, IMGSZ // 4)


@pytest.mark.slow
def test_yolov8n_seg_round_trip(tmp_path):
    from segctl.nn import build_from_session
    from segctl.session import Session

    sess = Session.create()
    model = build_from_session("yolov8n-seg.yaml", sess, nc=3)
    out = export(model, sess, format="openvino", imgsz=96, output=str(tmp_path / "n_openvino_model"))
    meta = read_yaml_metadata(out)
    assert meta["parity"]["passed"] and meta["parity"]["max_abs_diff"] < 1e-3
    pred, proto = load_backend(out, sess)(torch.rand(1, 3, 96, 96))
    assert pred.shape == (1, 4 + 3 + 32, 12 * 12 + 6 * 6 + 3 * 3) and proto.shape == (1, 32, 24, 24)


def test_calibration_images_are_letterboxed(images):
    from segctl.export.calib import calibration_images, letterbox

    batch = calibration_images(str(images), None, [64, 96], fraction=0.5)
    assert len(batch) == 3 and all(b.shape == (1, 3, 64, 96) and b.dtype == np.float32 for b in batch)
    assert 0.0 <= min(b.min() for b in batch) and max(b.max() for b in batch) <= 1.0
    boxed = letterbox(np.zeros((20, 40, 3), np.uint8), (64, 64))
    assert boxed.shape == (64, 64, 3) and boxed[0, 0, 0] == 114 and boxed[32, 32, 0] == 0


def test_calibration_data_that_is_not_images_is_a_clear_error(tmp_path):
    from segctl.errors import DataError
    from segctl.export.calib import calibration_images

    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="not a folder of images"):
        calibration_images(str(tmp_path), None, [64, 64])
