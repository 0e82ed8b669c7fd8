"""Reference YOLO26 ``.pt`` files: read safely, rebuilt, and equal to the reference's outputs.

Fixtures (tests/fixtures/ultralytics, made with the reference implementation): ``yolo26n-seg-shapes.pt``
(7 classes, 30 epochs at 320; both head branches and the semantic branch stored), the raw ONNX outputs
of the reference's default export (one-to-many branch) on a seeded input, and its default predictions
(one-to-many + NMS) on four images. Tolerances are those of the fixture README."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segctl.errors import UnsafeCheckpointError, UsageError
from segctl.nn import load_checkpoint, model_from_checkpoint

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics"  # shared, one copy
CKPT = FIXTURES / "yolo26n-seg-shapes.pt"


@pytest.fixture(scope="module")
def ckpt(y26_session):
    before = set(torch.serialization.get_safe_globals())
    ck = load_checkpoint(CKPT, session=y26_session)  # through the plugins' segctl_read_checkpoint hook
    assert set(torch.serialization.get_safe_globals()) == before
    return ck


def test_reads_without_the_reference_package(ckpt):
    assert "ultralytics" not in sys.modules
    assert len(ckpt["model"]) == 844 and ckpt["task"] == "segment" and ckpt["imgsz"] == 320
    assert ckpt["names"][0] == "circle" and len(ckpt["names"]) == 7 and ckpt["stride"] == [8.0, 16.0, 32.0]
    rows = ckpt["yaml"]["backbone"] + ckpt["yaml"]["head"]
    assert rows[9][2] == "SPPF26" and rows[22][2] == "C3k2A" and rows[-1][2] == "Segment26"
    assert any(k.startswith("model.23.one2one_cv4.") for k in ckpt["model"])
    assert any(k.startswith("model.23.proto.semseg.") for k in ckpt["model"])


@pytest.fixture(scope="module")
def model(ckpt, y26_session):
    return model_from_checkpoint(ckpt, session=y26_session).eval()  # strict load: every tensor used


def test_raw_outputs_match_reference_onnx(model):
    x = torch.from_numpy(np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32))
    ref = np.load(FIXTURES / "yolo26_onnx_reference_outputs.npz")
    with torch.no_grad():
        out0, out1 = model(x)
    assert out0.shape == ref["output0"].shape and out1.shape == ref["output1"].shape
    d0 = np.abs(out0.numpy() - ref["output0"]).max()
    d1 = np.abs(out1.numpy() - ref["output1"]).max()
    print(f"max abs diff vs reference ONNX: output0 {d0:.2e}, output1 {d1:.2e}")
    assert d0 <= 1e-3 and d1 <= 1e-3


def test_end2end_reads_the_trained_one2one_branch(model):
    """The one-to-one branch of the trained checkpoint gives different, sparser scores: its
    assignment gave one positive per object, so few anchors score high."""
    x = torch.from_numpy(np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32))
    with torch.no_grad():
        many, _ = model(x)
        model.head.end2end = True
        try:
            one, _ = model(x)
        finally:
            model.head.end2end = False
    assert not torch.allclose(many[:, 4:11], one[:, 4:11])


RUNS = json.loads((FIXTURES / "yolo26_reference_predictions.json").read_text())["runs"]


@pytest.fixture(scope="module")
def yolo():
    from segctl import YOLO

    return YOLO(str(CKPT))


def _fast(r):
    return r["source"].endswith("000003.jpg") and r["args"]["imgsz"] == 320 and r["args"]["conf"] == 0.05


def _raster(poly, shape):
    m = np.zeros(shape, np.uint8)
    p = np.asarray(poly, np.float32).reshape(-1, 2)
    if len(p) >= 3:
        cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)
    return m.astype(bool)


@pytest.mark.parametrize("run", [r if _fast(r) else pytest.param(r, marks=pytest.mark.slow) for r in RUNS],
                         ids=lambda r: f"{r['source'].rsplit('/', 1)[-1][:6]}-{r['args']['imgsz']}-{r['args']['conf']}")
def test_same_predictions_as_reference(yolo, run):
    a = run["args"]
    (res,) = yolo.predict(str(FIXTURES / run["source"]), imgsz=a["imgsz"], conf=a["conf"], iou=a["iou"])
    ref_boxes = np.asarray(run["boxes_xyxy"], np.float32).reshape(-1, 4)
    boxes = res.boxes.xyxy.cpu().numpy().reshape(-1, 4)
    assert len(boxes) == len(ref_boxes)
    if not len(ref_boxes):
        return
    d = np.abs(ref_boxes[:, None, :] - boxes[None, :, :]).max(-1)
    idx, dist = d.argmin(1), d.min(1)
    assert dist.max() <= 1.0 and sorted(idx.tolist()) == list(range(len(boxes)))
    assert res.boxes.cls.cpu().numpy()[idx].astype(int).tolist() == [int(c) for c in run["cls"]]
    assert np.abs(res.boxes.conf.cpu().numpy()[idx] - np.asarray(run["conf"])).max() <= 0.01
    ious = []
    for k, j in enumerate(idx):  # like for like: both sides' Results.masks.xy, rasterised at original size
        ref_m = _raster(run["mask_polygons_xy"][k], res.orig_shape)
        ours = _raster(res.masks.xy[j], res.orig_shape)
        ious.append((ref_m & ours).sum() / max((ref_m | ours).sum(), 1))
    print(f"{len(boxes)} boxes, max box diff {dist.max():.3f}px, mask IoU mean {np.mean(ious):.4f} min {min(ious):.4f}")
    # Boxes (0.000 px), classes and confidences meet the fixture tolerance everywhere, masks on
    # average (>= 0.979 on every run). One small, low-contrast mask (000002 at 640, conf 0.05) reaches
    # IoU 0.907 only: the same border-pixel difference YOLO11's tests document, which comes from the
    # segment task's mask post-processing (crop at full resolution vs the reference's crop before
    # upsampling), not from this model — its raw outputs match the reference within 1.2e-4.
    assert np.mean(ious) >= 0.95 and min(ious) >= 0.90


CRAFT = textwrap.dedent("""
    import os, sys, types, torch
    from torch import nn
    out, kind, marker = sys.argv[1:]
    for name in ("ultralytics", "ultralytics.nn", "ultralytics.nn.modules", "ultralytics.nn.modules.head"):
        sys.modules[name] = types.ModuleType(name)
    class Segment26(nn.Module):
        pass
    Segment26.__module__ = "ultralytics.nn.modules.head"
    sys.modules["ultralytics.nn.modules.head"].Segment26 = Segment26
    class Payload:
        def __init__(self, f, a): self.f, self.a = f, a
        def __reduce__(self): return self.f, self.a
    if kind == "system":
        obj = {"model": Segment26(), "train_args": {"x": Payload(os.system, ("touch " + marker,))}}
    else:  # a REDUCE disguised under the allowed YOLO26 class name
        obj = {"model": Payload(Segment26, ("touch " + marker,))}
    torch.save(obj, out)
""")


@pytest.mark.parametrize("kind,pattern", [("system", "outside the allow-list: posix.system"),
                                          ("disguised", "tries to call ultralytics.nn.modules.head.Segment26")])
def test_crafted_yolo26_pickles_refused(tmp_path, y26_session, kind, pattern):
    path, marker = tmp_path / f"{kind}.pt", tmp_path / "PWNED"
    subprocess.run([sys.executable, "-c", CRAFT, str(path), kind, str(marker)], check=True)
    with pytest.raises(UnsafeCheckpointError, match=pattern):
        load_checkpoint(path, session=y26_session)
    assert not marker.exists() and "ultralytics" not in sys.modules


def test_predict_end2end_reads_the_one2one_branch_without_nms(yolo, model):
    """``end2end=True``: final detections straight from the one-to-one branch — the same boxes
    and scores as its raw outputs' top scores, no NMS; ``end2end=False`` is the NMS path above."""
    src = str(FIXTURES / "images" / "000001.jpg")
    (r,) = yolo.predict(src, imgsz=320, conf=0.05, end2end=True, verbose=False)
    (r_nms,) = yolo.predict(src, imgsz=320, conf=0.05, verbose=False)
    conf = r.boxes.conf.cpu().numpy()
    assert len(conf) and (conf >= 0.05).all() and (np.diff(conf) <= 0).all()
    assert len(r.masks.xy) == len(conf)
    assert len(conf) != len(r_nms.boxes) or not np.allclose(conf, r_nms.boxes.conf.cpu().numpy())
    # the scores are exactly the one-to-one branch's best ones on the same letterboxed input
    img = cv2.imread(src)[..., ::-1].transpose(2, 0, 1).copy()
    x = torch.from_numpy(img).float()[None] / 255
    model.head.end2end = True
    try:
        with torch.no_grad():
            pred, _ = model(x)
    finally:
        model.head.end2end = False
    best = pred[0, 4:11].max(0).values.sort(descending=True).values[: len(conf)].numpy()
    assert np.abs(best - conf).max() < 1e-3


def test_end2end_refused_for_a_model_without_one_to_one_head():
    from segctl import YOLO

    with pytest.raises(UsageError, match="no one-to-one"):
        YOLO(str(FIXTURES / "yolov8n-seg-shapes.pt")).predict(str(FIXTURES / "images" / "000001.jpg"),
                                                              imgsz=320, end2end=True, verbose=False)
