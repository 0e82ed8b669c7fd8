"""Drop-in compatibility: an Ultralytics-trained checkpoint, loaded safely through ``YOLO(...)``,
predicts what the reference implementation predicted on the same images (fixture made with the
reference: same classes; boxes within 1 px; confidences within 0.01; mask IoU >= 0.95 against the
reference polygons rasterised at the original size)."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from segctl import YOLO

FIX = Path(__file__).resolve().parent / "fixtures" / "ultralytics"
RUNS = json.loads((FIX / "reference_predictions.json").read_text())["runs"]


@pytest.fixture(scope="module")
def model():
    return YOLO(str(FIX / "yolov8n-seg-shapes.pt"))


def _raster(polys, shape):
    m = np.zeros(shape, np.uint8)
    for p in polys:
        p = np.asarray(p, np.float32).reshape(-1, 2)
        if len(p) >= 3:
            cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)
    return m.astype(bool)


def _match(ref_boxes, boxes):
    """Index of our box nearest to each reference box (same order is not guaranteed)."""
    d = np.abs(ref_boxes[:, None, :] - boxes[None, :, :]).max(-1)
    return d.argmin(1), d.min(1)


BACKENDS = ["torch", "onnxruntime", pytest.param("openvino", marks=pytest.mark.slow)]


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"{Path(r['source']).stem}-{r['args']['imgsz']}-{r['args']['conf']}")
@pytest.mark.parametrize("backend", BACKENDS)
def test_same_predictions_as_reference(model, run, backend):
    """Through PyTorch and through the compiled CPU fast path (``backend=auto`` picks one of the
    compiled runtimes), the same detections as the reference."""
    if backend == "openvino":
        pytest.importorskip("openvino", reason="OpenVINO not installed (make install-extras)")
    a = run["args"]
    (res,) = model.predict(str(FIX / run["source"]), imgsz=a["imgsz"], conf=a["conf"], iou=a["iou"], backend=backend)
    assert list(res.orig_shape) == list(run["orig_shape"])
    ref_boxes = np.asarray(run["boxes_xyxy"], np.float32).reshape(-1, 4)
    boxes = res.boxes.xyxy.cpu().numpy().reshape(-1, 4)
    assert len(boxes) == len(ref_boxes)
    if not len(ref_boxes):
        return
    idx, dist = _match(ref_boxes, boxes)
    print(f"max box diff {dist.max():.3f}px")
    assert dist.max() <= 1.0
    assert sorted(idx.tolist()) == list(range(len(boxes)))
    cls = res.boxes.cls.cpu().numpy()[idx]
    conf = res.boxes.conf.cpu().numpy()[idx]
    assert cls.astype(int).tolist() == [int(c) for c in run["cls"]]
    assert np.abs(conf - np.asarray(run["conf"])).max() <= 0.01
    h, w = res.orig_shape
    ours_all = res.masks.at_orig()  # masks at the original resolution
    assert len(res.masks.xy) == len(boxes)
    ious = []
    for k, j in enumerate(idx):
        ref_m = _raster([run["mask_polygons_xy"][k]], (h, w))
        ours = ours_all[j]
        ious.append((ref_m & ours).sum() / max((ref_m | ours).sum(), 1))
    print(f"min mask IoU {min(ious):.4f}")
    assert min(ious) >= 0.95
