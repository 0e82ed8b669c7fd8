"""Stand-alone validation of a checkpoint: metrics object, speed, outputs, COCO JSON + COCOeval."""
from __future__ import annotations

import json

import pytest

from segctl_tasks_segment.task import SegmentTask

from .conftest import base_cfg


def test_val_metrics_keys_and_outputs(tiny_ckpt, shapes_data, session, tmp_path):
    seen = []

    class Spy:
        from segctl import hookimpl

        @hookimpl
        def segctl_on_val_end(self, validator, metrics):
            seen.append(metrics)

    session.pm.register(Spy(), name="spy-val")
    try:
        cfg = base_cfg(model=str(tiny_ckpt), data=shapes_data, imgsz=64, batch=4, project=str(tmp_path), name="v",
                       plots=False, verbose=True)
        m = SegmentTask().val(cfg, session)
    finally:
        session.pm.unregister(name="spy-val")
    assert seen and seen[0] is m
    rd = m.results_dict
    for k in ("metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
              "metrics/precision(M)", "metrics/mAP50-95(M)", "fitness"):
        assert k in rd and 0.0 <= rd[k] <= 2.0
    for obj in (m.box, m.seg):
        for attr in ("map", "map50", "map75", "maps", "mp", "mr"):
            getattr(obj, attr)
    assert set(m.speed) >= {"preprocess", "inference", "postprocess"} and m.speed["inference"] > 0
    assert (tmp_path / "v" / "args.yaml").exists()


@pytest.mark.slow
def test_val_save_json_runs_cocoeval_on_coco_data(tiny_ckpt, shapes_data, session, tmp_path):
    coco_yaml = str(shapes_data).replace("data.yaml", "data-coco.yaml")
    cfg = base_cfg(model=str(tiny_ckpt), data=coco_yaml, imgsz=64, batch=4, project=str(tmp_path), name="c",
                   save_json=True, plots=True)
    m = SegmentTask().val(cfg, session)
    preds = json.loads((tmp_path / "c" / "predictions.json").read_text())
    if not preds:
        pytest.skip("random model produced no detections above conf")
    p = preds[0]
    assert {"image_id", "category_id", "bbox", "score", "segmentation"} <= set(p)
    assert isinstance(p["segmentation"]["counts"], str)
    assert {"bbox_mAP50-95", "segm_mAP50-95"} <= set(m.coco)
    d = tmp_path / "c"
    for f in ("confusion_matrix.png", "confusion_matrix_normalized.png", "MaskPR_curve.png", "val_batch0_pred.jpg",
              "val_batch0_labels.jpg"):
        assert (d / f).exists(), f
