import json

import cv2
import numpy as np
import pytest
import torch

from segctl_tasks_segment.masks_ops import polygons2mask
from segctl_tasks_segment.plotting import plot_metric_curves, plot_results
from segctl_tasks_segment.results import Results

NAMES = {0: "circle", 1: "star", 2: "ring"}


def make_results(h=96, w=128, letterbox=False):
    img = np.full((h, w, 3), 40, np.uint8)
    m = np.zeros((3, h, w), np.uint8)
    cv2.circle(m[0], (30, 30), 15, 1, -1)
    cv2.circle(m[1], (90, 60), 20, 1, -1)
    cv2.rectangle(m[2], (60, 10), (80, 30), 1, -1)
    boxes = torch.tensor([[15.0, 15, 46, 46, 0.9, 0], [70, 40, 111, 81, 0.8, 0], [60, 10, 81, 31, 0.55, 1]])
    masks = torch.from_numpy(m).bool()
    if letterbox:  # masks at a 128x128 letterboxed input: 16 px bars on top and bottom
        lb = torch.zeros(3, 128, 128, dtype=torch.bool)
        lb[:, 16:112] = masks
        masks = lb
    return Results(img, "/data/img1.jpg", NAMES, boxes=boxes, masks=masks, speed={"inference": 1.0})


def test_boxes_api():
    r = make_results()
    b = r.boxes
    assert len(r) == 3 and r.orig_shape == (96, 128) and b.xyxy.shape == (3, 4)
    assert b.xywh[0].tolist() == pytest.approx([30.5, 30.5, 31, 31])
    assert b.xyxyn[0].tolist() == pytest.approx([15 / 128, 15 / 96, 46 / 128, 46 / 96])
    assert b.xywhn.shape == (3, 4) and b.conf.tolist() == pytest.approx([0.9, 0.8, 0.55])
    assert b.cls.tolist() == [0, 0, 1] and b.id is None and b.data.shape == (3, 6)
    assert r.verbose() == "2 circles, 1 star, "
    assert r[1].boxes.conf.tolist() == pytest.approx([0.8]) and len(r[0:2]) == 2
    n = r.numpy()
    assert isinstance(n.boxes.data, np.ndarray) and isinstance(n.masks.data, np.ndarray)
    assert isinstance(r.cpu().boxes.data, torch.Tensor) and r.to("cpu").boxes.data.dtype == torch.float32
    assert Results(r.orig_img, "x.jpg", ["a"], boxes=torch.zeros(0, 6)).verbose() == "(no detections), "


@pytest.mark.parametrize("letterbox", [False, True])
def test_mask_polygons_in_original_coordinates(letterbox):
    r = make_results(letterbox=letterbox)
    data = make_results().masks.data
    assert data.dtype == torch.float32 and set(data.unique().tolist()) <= {0.0, 1.0}  # the reference's layout
    ref = data.numpy() > 0.5
    xy = r.masks.xy
    assert len(xy) == 3 and all(p.dtype == np.float32 and p.shape[1] == 2 for p in xy)
    for p, m in zip(xy, ref):
        back = polygons2mask([p], (96, 128)).astype(bool)
        assert (back & m).sum() / (back | m).sum() > 0.9
    assert max(p[:, 1].max() for p in xy) <= 96
    assert all((p >= 0).all() and (p <= 1).all() for p in r.masks.xyn)


def test_plot_save_txt_crop_summary(tmp_path):
    r = make_results(letterbox=True)
    im = r.plot()
    assert im.shape == (96, 128, 3) and im.dtype == np.uint8
    assert not np.array_equal(im[30, 30], r.orig_img[30, 30])  # mask blended
    assert np.array_equal(im[90, 5], r.orig_img[90, 5])  # background untouched
    assert np.array_equal(r.plot(masks=False, boxes=False), r.orig_img)
    out = r.save(tmp_path / "pred.jpg")
    assert cv2.imread(out).shape == (96, 128, 3)
    txt = r.save_txt(tmp_path / "labels" / "img1.txt", save_conf=True)
    lines = open(txt).read().splitlines()
    assert len(lines) == 3 and lines[2].split()[0] == "1" and float(lines[2].split()[-1]) == pytest.approx(0.55)
    assert len(lines[0].split()) % 2 == 0  # class + x y pairs + conf
    crops = r.save_crop(tmp_path / "crops")
    assert len(crops) == 3 and cv2.imread(crops[0]).shape[:2] == (31, 31)
    s = r.summary()
    assert s[0]["name"] == "circle" and s[0]["box"]["x1"] == 15 and "segments" in s[0]
    assert json.loads(r.to_json())[2]["class"] == 1
    assert r.summary(normalize=True)[0]["box"]["x2"] == pytest.approx(46 / 128, abs=1e-5)


def test_curves_and_results_png(tmp_path):
    from segctl_tasks_segment.metrics import SegmentMetrics, StatsAccumulator, evaluate_image

    st = StatsAccumulator(mask=True)
    b = torch.tensor([[0.0, 0, 8, 8], [8, 8, 16, 16]])
    m = torch.zeros(2, 16, 16, dtype=torch.bool)
    m[0, :8, :8] = True
    m[1, 8:, 8:] = True
    st.update(**evaluate_image(b, torch.tensor([0.9, 0.4]), torch.tensor([0, 1]), b, torch.tensor([0, 1]), m, m))
    sm = SegmentMetrics({0: "a", 1: "b"}).process(**st.result())
    paths = plot_metric_curves(sm, tmp_path)
    assert len(paths) == 8 and all(p.stat().st_size > 1000 for p in paths)
    csv = tmp_path / "results.csv"
    csv.write_text("epoch, train/box_loss, train/seg_loss, metrics/mAP50(B), lr/pg0\n"
                   + "".join(f"{e}, {2 - e * 0.1}, {3 - e * 0.2}, {e * 0.05}, 0.01\n" for e in range(1, 8)))
    png = plot_results(csv)
    assert png.name == "results.png" and png.stat().st_size > 1000


def test_results_plot_keeps_curves_readable_despite_one_spike():
    """An early val-loss blow-up (eval-mode BatchNorm before its statistics settle) must not flatten
    the rest of the curve; ordinary curves keep matplotlib's own limits."""
    from segctl_tasks_segment.plotting import _robust_ylim

    steady = np.array([4.0, 3.2, 2.7, 2.4, 2.2, 2.1, 2.0, 1.9])
    assert _robust_ylim(steady) is None
    spiky = np.array([5.0, 6.0, 5370.0, 990.0, 15.0, 3.9, 3.1, 2.9, 2.8, 2.7, 2.6, 2.5])
    lo, hi = _robust_ylim(spiky)
    assert lo < 2.5 and 15.0 <= hi < 990.0
