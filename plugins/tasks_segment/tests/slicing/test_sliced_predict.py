"""Sliced predict with the reference fixture checkpoint (a real model that detects shapes) on large
canvases made from its fixture images: coordinates land in full-image pixels and an object cut by a
tile border comes out as one instance whose mask is the one a single tile holding it whole gives."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from segctl import YOLO
from segctl_tasks_segment.slicing import merge, tile_grid, tile_instances

ROOT = Path(__file__).resolve().parents[4]
FIX = ROOT / "tests" / "fixtures" / "ultralytics"
RING = 6  # class of the fixture's most confident detection (000003.jpg, box ~[265, 249, 318, 308])


@pytest.fixture(scope="module")
def model():
    return YOLO(str(FIX / "yolov8n-seg-shapes.pt"))


def _canvas(h, w, placements):
    c = np.full((h, w, 3), 114, np.uint8)
    for name, (x, y) in placements:
        im = cv2.imread(str(FIX / "images" / name))
        c[y:y + im.shape[0], x:x + im.shape[1]] = im
    return c


def test_tile_grid_covers_the_image_with_equal_tiles():
    rects = tile_grid(1200, 1600, 320, 320, 0.25)
    assert {(r[2] - r[0], r[3] - r[1]) for r in rects} == {(320, 320)}
    cover = np.zeros((1200, 1600), bool)
    for x1, y1, x2, y2 in rects:
        cover[y1:y2, x1:x2] = True
    assert cover.all()
    xs = sorted({r[0] for r in rects})
    assert xs[:2] == [0, 240] and xs[-1] == 1600 - 320  # step 240 = 320 * (1 - 0.25), last at the edge
    assert tile_grid(200, 300, 640, 640, 0.2) == [(0, 0, 300, 200)]  # smaller than a tile: itself


def _ring_mask(r, near_box):
    """The full-image mask of the best ring detection whose box overlaps ``near_box``."""
    b = r.boxes.xyxy.numpy()
    sel = [k for k in range(len(r)) if int(r.boxes.cls[k]) == RING and b[k, 0] < near_box[2]
           and b[k, 2] > near_box[0] and b[k, 1] < near_box[3] and b[k, 3] > near_box[1]]
    return sel, r.masks.at_orig()


def test_object_cut_by_a_tile_border_is_one_instance_with_the_whole_tile_mask(model):
    # 000003.jpg placed at x=35: its ring spans x ~300..353, across the borders x=320 of the tiles
    # x 0..320 and x 320..640, whole only in the tiles x 240..560 (320 px tiles, overlap 0.25)
    canvas = _canvas(640, 640, [("000003.jpg", (35, 0))])
    ring_box = (35 + 265, 249, 35 + 318, 308)
    kw = dict(imgsz=320, conf=0.1, verbose=False, backend="torch")
    # the reference: plain predict on one tile holding the ring whole (x 240..560, y 240..560)
    (ref,) = model(np.ascontiguousarray(canvas[240:560, 240:560]), **kw)
    sel_ref, m_ref = _ring_mask(ref, (ring_box[0] - 240, 249 - 240, ring_box[2] - 240, 308 - 240))
    assert len(sel_ref) == 1
    ref_full = np.zeros((640, 640), bool)
    ref_full[240:560, 240:560] = m_ref[sel_ref[0]]

    (r,) = model(canvas, slice=320, slice_overlap=0.25, **kw)
    # without merging, several tiles report the ring (at least one cut piece)
    parts = [p for p in tile_instances(model._predictor, canvas) if p.cls == RING
             and p.rect[0] < ring_box[2] and p.rect[2] > ring_box[0]]
    assert len({p.tile for p in parts}) >= 2
    # the tile x 320..640 sees only the ring's right part: a piece cut at its left edge
    assert any(p.rect[0] == 320 and p.tile not in {q.tile for q in parts if q.rect[0] < 320} for p in parts)
    sel, masks = _ring_mask(r, ring_box)
    assert len(sel) == 1, f"{len(sel)} ring instances after merging"
    m = masks[sel[0]]
    iou = (m & ref_full).sum() / (m | ref_full).sum()
    assert iou >= 0.95, iou
    x1, y1, x2, y2 = r.boxes.xyxy[sel[0]].tolist()  # box = the union mask's extent, full-image pixels
    ys, xs = np.nonzero(m)
    assert (x1, y1, x2, y2) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert abs(x1 - ring_box[0]) < 8 and abs(x2 - ring_box[2]) < 8


@pytest.mark.slow
def test_nms_mode_keeps_one_piece(model):
    canvas = _canvas(640, 640, [("000003.jpg", (35, 0))])
    (r,) = model(canvas, slice=320, slice_overlap=0.25, slice_merge="nms", imgsz=320, conf=0.1, verbose=False,
                 backend="torch")
    sel, _ = _ring_mask(r, (300, 249, 353, 308))
    assert len(sel) == 1


def test_downscaled_pass_maps_boxes_and_masks_to_full_image_pixels(model):
    # one tile bigger than the image = the whole image letterboxed (gain 0.5 and padding): the
    # cropped, warped masks must match plain predict's original-size (retina) masks
    canvas = _canvas(480, 640, [("000003.jpg", (300, 150)), ("000001.jpg", (0, 0))])
    kw = dict(imgsz=320, conf=0.05, verbose=False, backend="torch")
    (plain,) = model(canvas, retina_masks=True, **kw)
    (sl,) = model(canvas, slice=2000, **kw)
    assert len(plain) > 0 and len(sl) == len(plain)
    order_p = np.argsort(-plain.boxes.conf.numpy())
    order_s = np.argsort(-sl.boxes.conf.numpy())
    assert np.array_equal(plain.boxes.cls.numpy()[order_p], sl.boxes.cls.numpy()[order_s])
    mp, ms = plain.masks.at_orig()[order_p], sl.masks.at_orig()[order_s]
    ious = [(a & b).sum() / max((a | b).sum(), 1) for a, b in zip(mp, ms) if a.sum() > 50]
    assert ious and min(ious) >= 0.9, ious
    # sliced boxes are the masks' extent: inside plain predict's boxes (give or take a pixel)
    bp, bs = plain.boxes.xyxy.numpy()[order_p], sl.boxes.xyxy.numpy()[order_s]
    ok = [k for k in range(len(bp)) if mp[k].sum() > 50]
    assert np.all(bs[ok, :2] >= bp[ok, :2] - 2) and np.all(bs[ok, 2:] <= bp[ok, 2:] + 2)
