"""TF.js export (frozen .pb -> segctl's own graph-model writer) + backend: model.json with segctl
metadata and only ops TF.js supports, fp32 parity with PyTorch through the Python backend and
through TensorFlow.js on Node, float16 and uint8 kernels, an op TF.js lacks refused at export, clear
errors for broken folders; on the fixture images, TF.js on Node predicts what PyTorch predicts."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("onnx2tf")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from segctl.errors import CheckpointError, ExportError  # noqa: E402
from segctl.export.backends import load_backend  # noqa: E402
from segctl.export.run import export  # noqa: E402
from segctl_export_tfjs.ops import SUPPORTED_OPS  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
FIX = ROOT / "tests" / "fixtures" / "ultralytics"  # shared, one copy


def _size(folder):
    return sum(p.stat().st_size for p in folder.glob("*.bin"))


def _node_modules():
    """``$SEGCTL_TFJS_NODE_MODULES`` (set by ``make test``), else the checkout's ``.node-tfjs``."""
    from segctl_export_tfjs.node_runner import node_modules

    found = node_modules() or (ROOT / ".node-tfjs" / "node_modules")
    if shutil.which("node") is None or not (found / "@tensorflow" / "tfjs").is_dir():
        pytest.skip("node and @tensorflow/tfjs not installed (make install-node-tfjs)")
    return found


@pytest.fixture(scope="module")
def web(tf_workdir, session, tiny):
    return export(tiny, session, format="tfjs", imgsz=[64, 96], output=str(tf_workdir / "m_web_model"))


def test_folder_layout_and_metadata(web):
    spec = json.loads((web / "model.json").read_text())
    assert spec["format"] == "graph-model" and spec["convertedBy"].startswith("segctl")
    (group,) = spec["weightsManifest"]
    assert [p for p in group["paths"]] == sorted(p.name for p in web.glob("group1-shard*of*.bin"))
    meta = spec["userDefinedMetadata"]["segctl"]
    assert meta["names"] == {"0": "class0", "1": "class1", "2": "class2"}
    assert meta["imgsz"] == [64, 96] and meta["parity"]["passed"] and meta["weights"] == "float32"
    assert set(spec["signature"]["outputs"]) == {"output0", "output1"}
    assert spec["signature"]["inputs"]["images"]["tensorShape"]["dim"] == [{"size": s} for s in ("1", "64", "96", "3")]
    nodes = spec["modelTopology"]["node"]
    assert {n["op"] for n in nodes} <= SUPPORTED_OPS
    consts = [n for n in nodes if n["op"] == "Const"]
    assert {n["name"] for n in consts} == {w["name"] for w in group["weights"]}  # every value moved out
    assert not any("tensorContent" in n["attr"]["value"]["tensor"] for n in consts)
    assert (web / "metadata.yaml").is_file()


def test_backend_matches_torch(web, session, tiny):
    backend = load_backend(web, session)
    assert backend.metadata["format"] == "tfjs"
    x = torch.rand(2, 3, 64, 96)  # batch 2 through a batch-1 model: run in chunks
    pred, proto = backend(x)
    with torch.no_grad():
        rp, rq = tiny(x)
    assert pred.shape == rp.shape and proto.shape == rq.shape
    assert torch.allclose(pred, rp, atol=2e-3, rtol=1e-3) and torch.allclose(proto, rq, atol=2e-3, rtol=1e-3)


def test_runs_in_tensorflow_js_on_node(web, tiny):
    from segctl_export_tfjs.node_runner import run_in_node

    modules = _node_modules()
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(3))  # 2 images: chunked in JS
    out = run_in_node(web, np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1)), modules)
    with torch.no_grad():
        rp, rq = tiny(x)
    print(f"TF.js on Node vs PyTorch: output0 {np.abs(out['output0'] - rp.numpy()).max():.2e}, "
          f"output1 {np.abs(out['output1'] - rq.numpy()).max():.2e}")
    np.testing.assert_allclose(out["output0"], rp.numpy(), atol=2e-3, rtol=1e-3)
    np.testing.assert_allclose(out["output1"], rq.numpy(), atol=2e-3, rtol=1e-3)


def test_half_and_int8_weights_are_smaller_and_run(tf_workdir, session, tiny, web):
    half = export(tiny, session, format="tfjs", imgsz=[64, 96], half=True, output=str(tf_workdir / "h_web_model"))
    q8 = export(tiny, session, format="tfjs", imgsz=[64, 96], int8=True, output=str(tf_workdir / "q_web_model"))
    assert _size(half) < 0.6 * _size(web) and _size(q8) < 0.35 * _size(web)
    for folder, dtype in ((half, "float16"), (q8, "uint8")):
        weights = json.loads((folder / "model.json").read_text())["weightsManifest"][0]["weights"]
        stored = {w.get("quantization", {}).get("dtype", w["dtype"]) for w in weights}
        assert dtype in stored and "float32" in stored  # kernels shrink; biases and grids stay exact
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        rp, _ = tiny(x)
    for folder, tol in ((half, 0.05), (q8, 1.0)):
        pred, _ = load_backend(folder, session)(x)
        assert float((pred[:, :4] - rp[:, :4]).abs().mean()) < tol  # boxes in pixels
    assert load_backend(q8, session).metadata["weights"] == "uint8"


def test_op_tfjs_lacks_is_refused_at_export(tmp_path):
    import tensorflow as tf

    from segctl_export_tfjs.graph_model import write_graph_model

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 4, 4], name="images")
        tf.identity(tf.linalg.inv(x) + 1.0, name="out")
    with pytest.raises(ExportError, match="MatrixInverse"):
        write_graph_model(graph.as_graph_def(), {"images": "images:0"}, {"output0": "out:0"}, tmp_path / "w")
    assert not (tmp_path / "w" / "model.json").exists()


def test_metadata_from_model_json_alone(web, session, tmp_path):
    alone = tmp_path / "a_web_model"
    shutil.copytree(web, alone)
    (alone / "metadata.yaml").unlink()
    meta = load_backend(alone, session).metadata
    assert meta["names"] == {0: "class0", 1: "class1", 2: "class2"} and meta["imgsz"] == [64, 96]


def test_missing_shard_is_a_checkpoint_error(web, session, tmp_path):
    broken = tmp_path / "b_web_model"
    shutil.copytree(web, broken)
    next(broken.glob("*.bin")).unlink()
    with pytest.raises(CheckpointError, match="shard"):
        load_backend(broken, session)


@pytest.mark.slow
def test_fixture_predictions_in_tensorflow_js_equal_pytorch(tf_workdir, session, monkeypatch):
    """The reference-trained fixture at 320 px: every image of the shared fixture set predicted by
    TensorFlow.js on Node (the exported folder, no TensorFlow in the forward pass) and by PyTorch
    gives the same classes, boxes within 1 px, confidences within 0.01 and mask IoU >= 0.95."""
    from segctl import YOLO
    from segctl_export_tfjs import backend as tfjs_backend

    modules = _node_modules()
    src = tf_workdir / "fixture.pt"
    shutil.copy(FIX / "yolov8n-seg-shapes.pt", src)
    web = export(str(src), session, format="tfjs", imgsz=320)
    images = sorted(str(p) for p in (FIX / "images").glob("*.jpg"))
    ref = YOLO(str(src), session=session).predict(images, imgsz=320, conf=0.25)
    # the registered tfjs backend, with its forward passes run by TF.js on Node
    monkeypatch.setattr(tfjs_backend, "TfjsBackend",
                        lambda path, device="cpu", session=None: tfjs_backend.NodeTfjsBackend(path, device, session, modules))
    got = YOLO(str(web), session=session).predict(images, imgsz=320, conf=0.25)
    assert len(got) == len(ref) == 4
    worst_box, worst_conf, worst_iou = 0.0, 0.0, 1.0
    assert sum(len(r.boxes) for r in ref) > 0
    for r, g in zip(ref, got):
        assert len(r.boxes) == len(g.boxes)
        if not len(r.boxes):
            continue
        rb, gb = r.boxes.xyxy.cpu().numpy(), g.boxes.xyxy.cpu().numpy()
        idx = np.abs(rb[:, None] - gb[None]).max(-1).argmin(1)
        assert sorted(idx.tolist()) == list(range(len(gb)))
        assert r.boxes.cls.cpu().numpy().tolist() == g.boxes.cls.cpu().numpy()[idx].tolist()
        worst_box = max(worst_box, float(np.abs(rb - gb[idx]).max()))
        worst_conf = max(worst_conf, float(np.abs(r.boxes.conf.cpu().numpy() - g.boxes.conf.cpu().numpy()[idx]).max()))
        rm, gm = r.masks.at_orig(), g.masks.at_orig()[idx]
        for a, b in zip(rm, gm):
            worst_iou = min(worst_iou, float((a & b).sum() / max((a | b).sum(), 1)))
    print(f"TF.js on Node vs PyTorch on {len(images)} fixture images: max box diff {worst_box:.3f} px, "
          f"max conf diff {worst_conf:.4f}, min mask IoU {worst_iou:.4f}")
    assert worst_box <= 1.0 and worst_conf <= 0.01 and worst_iou >= 0.95
