"""ONNX exporter: default layout, metadata, dynamic shapes, fp16, option errors, a real YOLOv8 graph."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from segctl.errors import UsageError
from segctl.export import export, load_backend


def run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess, sess.run(None, {"images": x})


def test_default_layout_metadata_and_parity(session, tiny, tmp_path):
    path = export(tiny, session, format="onnx", imgsz=64, output=tmp_path / "m.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 18
    shape = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert {i.name: shape(i) for i in model.graph.input} == {"images": [1, 3, 64, 64]}
    assert {o.name: shape(o) for o in model.graph.output} == {"output0": [1, 4 + 3 + 32, 84], "output1": [1, 32, 16, 16]}
    props = {p.key: p.value for p in model.metadata_props}
    assert props["names"] == '{0: "circle", 1: "square", 2: "star"}' and props["task"] == "segment"
    assert props["stride"] == "32" and props["imgsz"] == "[64, 64]" and props["nms"] == "false"
    backend = load_backend(path, session)
    assert backend.names == {0: "circle", 1: "square", 2: "star"} and backend.stride == [8.0, 16.0, 32.0]
    parity = backend.metadata["parity"]
    assert parity["passed"] and parity["max_abs_diff"] < 1e-3 and parity["mask_iou"] >= 0.99
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    pred, proto = backend(x)
    with torch.no_grad():
        rp, rq = tiny(x)
    assert torch.allclose(pred, rp, rtol=1e-3, atol=1e-4) and torch.allclose(proto, rq, rtol=1e-3, atol=1e-4)


def test_dynamic_batch_two_non_square(session, tiny, tmp_path):
    path = export(tiny, session, format="onnx", imgsz=64, dynamic=True, simplify=False, output=tmp_path / "d.onnx")
    samples = load_backend(path, session).metadata["parity"]["samples"]
    assert [s["input"] for s in samples] == [[1, 3, 64, 64], [2, 3, 64, 96]] and all(s["passed"] for s in samples)
    x = np.random.default_rng(1).random((3, 3, 96, 128), dtype=np.float32)
    _, (o0, o1) = run(path, x)
    with torch.no_grad():
        rp, rq = tiny(torch.from_numpy(x))
    assert o0.shape == (3, 39, 12 * 16 + 6 * 8 + 3 * 4) and o1.shape == (3, 32, 24, 32)
    np.testing.assert_allclose(o0, rp.numpy(), rtol=1e-3, atol=1e-4)


def test_half(session, tiny, tmp_path):
    path = export(tiny, session, format="onnx", imgsz=64, half=True, output=tmp_path / "h.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].type == "tensor(float16)"
    backend = load_backend(path, session)
    assert backend.fp16 and backend.metadata["parity"]["passed"]


def test_unsupported_option_lists_supported(session, tiny):
    with pytest.raises(UsageError, match="'onnx' does not support option 'optimize'") as e:
        export(tiny, session, format="onnx", optimize=True)
    assert "simplify" in e.value.hint and "opset" in e.value.hint


def _tiny_yolov8(session):
    import yaml

    from segctl.nn import build_model
    from segctl.nn.registry_helpers import layers_from_session, resolve_model_config

    path, _ = resolve_model_config("yolov8n-seg", session)
    cfg = yaml.safe_load(open(path, encoding="utf-8"))
    cfg["scales"] = {"t": [0.33, 0.0625, 128]}
    return build_model(cfg, layers=layers_from_session(session), nc=2, names=["a", "b"], scale="t", task="segment")


@pytest.mark.slow
def test_real_yolov8_graph_dynamic(session, tmp_path):
    model = _tiny_yolov8(session)
    path = export(model, session, format="onnx", imgsz=64, dynamic=True, output=tmp_path / "y.onnx")
    parity = load_backend(path, session).metadata["parity"]
    assert parity["passed"] and len(parity["samples"]) == 2, parity
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "Conv" in ops and "Softmax" in ops  # the DFL head is in the graph
