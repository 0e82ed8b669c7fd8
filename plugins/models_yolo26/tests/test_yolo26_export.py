"""YOLO26-seg through the ONNX exporter, both ways.

* default: the one-to-many outputs, the reference's layout (``output0`` [1, 43, 8400], ``output1``
  prototypes), equal to the reference's own ONNX export of the same checkpoint;
* ``end2end=True``: the one-to-one outputs in the same layout, read by predict/val with top-k;
* ``end2end=True nms=True``: final boxes, scores, classes, masks and count — with no NMS op."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from segctl.errors import UsageError
from segctl.export import export

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics"  # shared, one copy
IMG = str(FIXTURES / "images" / "000001.jpg")


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    pytest.importorskip("onnx")
    p = tmp_path_factory.mktemp("y26onnx") / "yolo26n-seg-shapes.pt"
    shutil.copy(FIXTURES / "yolo26n-seg-shapes.pt", p)
    return p


def _io(path):
    import onnx

    m = onnx.load(str(path))
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    return ({o.name: dims(o) for o in m.graph.output}, {n.op_type for n in m.graph.node},
            {p.key: p.value for p in m.metadata_props})


@pytest.mark.slow
def test_default_onnx_matches_reference_onnx(src, y26_session):
    import onnxruntime as ort

    path = export(str(src), y26_session, format="onnx", imgsz=640)
    outs, ops, props = _io(path)
    assert outs == {"output0": [1, 43, 8400], "output1": [1, 32, 160, 160]} and "NonMaxSuppression" not in ops
    assert '"passed": true' in props["parity"]
    x = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
    out0, out1 = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    ref = np.load(FIXTURES / "yolo26_onnx_reference_outputs.npz")
    d0, d1 = np.abs(out0 - ref["output0"]).max(), np.abs(out1 - ref["output1"]).max()
    print(f"segctl ONNX vs reference ONNX: output0 {d0:.2e}, output1 {d1:.2e}")
    assert d0 <= 1e-3 and d1 <= 1e-3


@pytest.mark.slow
def test_end2end_exports_predict_like_the_checkpoint(src, y26_session, tmp_path):
    from segctl import YOLO

    (pt,) = YOLO(str(src)).predict(IMG, imgsz=640, conf=0.05, end2end=True, verbose=False)
    assert len(pt.boxes)
    raw = export(str(src), y26_session, format="onnx", imgsz=640, end2end=True, output=str(tmp_path / "raw.onnx"))
    outs, ops, props = _io(raw)
    assert outs == {"output0": [1, 43, 8400], "output1": [1, 32, 160, 160]}
    assert props["end2end"] == "true" and props["nms"] == "false"  # how predict/val know to skip NMS
    final = export(str(src), y26_session, format="onnx", imgsz=640, end2end=True, nms=True, conf=0.05,
                   output=str(tmp_path / "final.onnx"))
    outs, ops, _ = _io(final)
    assert set(outs) == {"boxes", "scores", "classes", "masks", "num"} and "NonMaxSuppression" not in ops
    for art in (raw, final):
        (r,) = YOLO(str(art)).predict(IMG, imgsz=640, conf=0.05, verbose=False)
        assert len(r.boxes) == len(pt.boxes)
        assert np.abs(r.boxes.xyxy.numpy() - pt.boxes.xyxy.numpy()).max() < 0.05
        assert np.abs(r.boxes.conf.numpy() - pt.boxes.conf.numpy()).max() < 1e-3


def test_end2end_export_refused_without_one_to_one_head(y26_session, tmp_path):
    with pytest.raises(UsageError, match="no one-to-one"):
        export(str(FIXTURES / "yolov8n-seg-shapes.pt"), y26_session, format="onnx", imgsz=64, end2end=True,
               output=str(tmp_path / "x.onnx"))
