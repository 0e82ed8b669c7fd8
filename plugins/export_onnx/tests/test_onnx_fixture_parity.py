"""Drop-in parity: segctl's ONNX of the reference's checkpoint matches the reference's ONNX
(same I/O names and shapes, same opset, raw outputs within 1e-3 on the same input)."""
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from segctl.export import export

FIX = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics"  # shared, one copy


@pytest.mark.slow
def test_matches_reference_onnx(session, tmp_path):
    src = tmp_path / "yolov8n-seg-shapes.pt"
    shutil.copy(FIX / "yolov8n-seg-shapes.pt", src)
    path = export(str(src), session, format="onnx", imgsz=640)
    assert path == tmp_path / "yolov8n-seg-shapes.onnx"
    ref_io = json.loads((FIX / "reference_io.json").read_text())
    model = onnx.load(str(path))
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert {i.name: dims(i) for i in model.graph.input} == ref_io["inputs"]
    assert {o.name: dims(o) for o in model.graph.output} == ref_io["outputs"]
    assert model.opset_import[0].version == ref_io["opset"]
    props = {p.key: p.value for p in model.metadata_props}
    for key in ("stride", "task", "batch", "imgsz"):
        assert props[key].strip('"') == ref_io["metadata"][key], key
    assert props["names"].replace('"', "'") == ref_io["metadata"]["names"]
    x = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
    out0, out1 = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    ref = np.load(FIX / "onnx_reference_outputs.npz")
    d0, d1 = np.abs(out0 - ref["output0"]).max(), np.abs(out1 - ref["output1"]).max()
    print(f"max abs diff vs reference ONNX: output0 {d0:.2e}, output1 {d1:.2e}")
    assert d0 <= 1e-3 and d1 <= 1e-3
