"""YOLO11-seg through the exporters: the reference checkpoint exported by segctl reproduces the
reference's own ONNX outputs, and predict on the artifact equals predict on the checkpoint.

The attention block (matmuls, softmax, reshapes of a dynamic pixel count) is what YOLOv8 never
exercised in the exporters."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from segctl.export import export

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics"  # shared, one copy


@pytest.fixture(scope="module")
def onnx_file(y11_session, tmp_path_factory):
    pytest.importorskip("onnx")
    src = tmp_path_factory.mktemp("y11onnx") / "yolo11n-seg-shapes.pt"
    shutil.copy(FIXTURES / "yolo11n-seg-shapes.pt", src)
    return export(str(src), y11_session, format="onnx", imgsz=640)


@pytest.mark.slow
def test_onnx_matches_reference_onnx(onnx_file):
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(onnx_file))
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert {i.name: dims(i) for i in model.graph.input} == {"images": [1, 3, 640, 640]}
    assert {o.name: dims(o) for o in model.graph.output} == {"output0": [1, 43, 8400], "output1": [1, 32, 160, 160]}
    props = {p.key: p.value for p in model.metadata_props}
    assert '"passed": true' in props["parity"] and props["task"] == "segment"
    x = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
    out0, out1 = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    ref = np.load(FIXTURES / "yolo11_onnx_reference_outputs.npz")
    d0, d1 = np.abs(out0 - ref["output0"]).max(), np.abs(out1 - ref["output1"]).max()
    print(f"segctl ONNX vs reference ONNX: output0 {d0:.2e}, output1 {d1:.2e}")
    assert d0 <= 1e-3 and d1 <= 1e-3


@pytest.mark.slow
def test_predict_on_onnx_equals_checkpoint(onnx_file):
    from segctl import YOLO

    img = str(FIXTURES / "images" / "000001.jpg")
    (a,) = YOLO(str(FIXTURES / "yolo11n-seg-shapes.pt")).predict(img, imgsz=640, conf=0.05)
    (b,) = YOLO(str(onnx_file)).predict(img, imgsz=640, conf=0.05)
    assert len(a.boxes) == len(b.boxes) > 0
    assert np.abs(a.boxes.xyxy.numpy() - b.boxes.xyxy.numpy()).max() < 0.05
    assert a.boxes.cls.tolist() == b.boxes.cls.tolist()
    ma, mb = np.asarray(a.masks.data) > 0.5, np.asarray(b.masks.data) > 0.5
    inter, union = (ma & mb).sum((1, 2)), (ma | mb).sum((1, 2))
    assert (inter / np.maximum(union, 1)).min() >= 0.99
