"""Post-processing parity with the reference implementation on its own checkpoint.

The model forward comes from segctl.nn (another package); what is checked here is that NMS,
mask assembly and Results reproduce the reference's detections: same count and classes, boxes
within 1 px, confidences within 0.01, mask IoU >= 0.95 against the reference polygons.
"""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segctl_tasks_segment.boxes import box_iou, scale_boxes
from segctl_tasks_segment.masks_ops import polygons2mask, process_masks
from segctl_tasks_segment.ops import non_max_suppression
from segctl_tasks_segment.results import Results

FIX = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "ultralytics"  # shared, one copy


@pytest.fixture(scope="module")
def backend():
    from segctl.nn.backend import TorchBackend

    return TorchBackend(str(FIX / "yolov8n-seg-shapes.pt"))


# images are fed at their own 320x320 size (no letterbox): only the imgsz=320 runs apply here;
# tests/test_reference_predictions.py covers every run through the full predictor.
RUNS = [r for r in json.loads((FIX / "reference_predictions.json").read_text())["runs"] if r["args"]["imgsz"] == 320]


@pytest.mark.parametrize("run", RUNS, ids=[f"{r['source']}-conf{r['args']['conf']}" for r in RUNS])
def test_matches_reference_predictions(backend, run):
    img = cv2.imread(str(FIX / run["source"]))
    x = torch.from_numpy(np.ascontiguousarray(img[..., ::-1])).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        pred, proto = backend(x)[:2]
    det = non_max_suppression(pred, conf=run["args"]["conf"], iou=run["args"]["iou"], nc=7)[0]
    masks = process_masks(proto[0], det[:, 6:], det[:, :4], img.shape[:2])
    det[:, :4] = scale_boxes(img.shape[:2], det[:, :4], img.shape[:2])  # no letterbox here: only clips
    ref_boxes = torch.tensor(run["boxes_xyxy"]).view(-1, 4)
    assert len(det) == len(ref_boxes)
    if not len(det):
        return
    # pair each detection with the reference box of the same confidence (ties: the closest box)
    dconf = (det[:, 4, None] - torch.tensor(run["conf"])[None]).abs()
    j = (dconf - 1e-3 * box_iou(det[:, :4], ref_boxes)).argmin(1)
    assert dconf.gather(1, j[:, None]).max() < 0.01
    assert (det[:, 5] == torch.tensor(run["cls"]).float()[j]).all()
    assert (det[:, :4] - ref_boxes[j]).abs().max() < 1.0
    for k in range(len(det)):
        ref = polygons2mask([np.array(run["mask_polygons_xy"][int(j[k])])], img.shape).astype(bool)
        mine = masks[k].numpy()
        assert (ref & mine).sum() / (ref | mine).sum() >= 0.95
    res = Results(img, run["source"], {i: str(i) for i in range(7)}, boxes=det[:, :6], masks=masks)
    assert len(res.masks.xy) == len(det)
