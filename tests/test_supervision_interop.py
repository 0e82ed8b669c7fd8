"""Results that downstream tools accept: ``supervision.Detections.from_ultralytics`` -- how many users
turn predictions into tracking, zones and annotations -- reads segctl's Results as it reads the
reference's (it crashed on bool masks: OpenCV's resize refuses them)."""
from pathlib import Path

import numpy as np
import pytest

from segctl import YOLO

sv = pytest.importorskip("supervision", reason="supervision is in the dev extra: pip install -e '.[dev]'")

FIX = Path(__file__).resolve().parent / "fixtures" / "ultralytics"


@pytest.mark.parametrize("retina_masks", [False, True])
def test_detections_from_segctl_results(retina_masks):
    model = YOLO(str(FIX / "yolov8n-seg-shapes.pt"))
    (r,) = model(str(FIX / "images" / "000003.jpg"), imgsz=320, conf=0.05, retina_masks=retina_masks,
                 verbose=False, backend="torch")
    assert len(r) > 0
    assert r.masks.data.dtype.is_floating_point and r.boxes.data.shape == (len(r), 6)
    det = sv.Detections.from_ultralytics(r)
    assert len(det) == len(r)
    assert np.allclose(det.xyxy, r.boxes.xyxy.numpy())
    assert np.allclose(det.confidence, r.boxes.conf.numpy())
    assert det.class_id.tolist() == r.boxes.cls.int().tolist()
    assert det.data["class_name"].tolist() == [r.names[c] for c in det.class_id]
    assert det.mask.shape == (len(r), *r.orig_shape) and det.mask.dtype == bool
    ours = r.masks.at_orig()
    ious = [(a & b).sum() / max((a | b).sum(), 1) for a, b in zip(det.mask, ours)]
    assert min(ious) >= 0.99, ious  # the same masks at the original size
    annotated = sv.MaskAnnotator().annotate(r.orig_img.copy(), det)
    assert annotated.shape == r.orig_img.shape
