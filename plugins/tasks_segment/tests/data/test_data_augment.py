"""Geometry of the augmentations: polygons and raster masks stay on the pixels they describe."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from segctl_tasks_segment.data import SegmentDataset, collate, letterbox
from segctl_tasks_segment.data.instances import Instances, clip_polygon, polygon_area
from segctl_tasks_segment.data.masks import overlap_mask, polygon_mask

HEAVY = {"degrees": 30, "translate": 0.2, "scale": 0.5, "shear": 10, "perspective": 0.001, "hsv_h": 0, "hsv_s": 0,
         "hsv_v": 0, "fliplr": 0.5, "flipud": 0.5, "mosaic": 1.0, "mixup": 0.0, "copy_paste": 0.5}


def _iou(a, b):
    a, b = a.astype(bool), b.astype(bool)
    return (a & b).sum() / max((a | b).sum(), 1)


def test_clip_polygon_exact():
    sq = np.array([[-10, -10], [10, -10], [10, 10], [-10, 10]], np.float32)
    c = clip_polygon(sq, 100, 100)
    assert polygon_area(c) == pytest.approx(100.0)
    assert c.min() >= 0 and len(clip_polygon(sq - 50, 100, 100)) == 0
    tri = np.array([[50, -50], [150, 50], [-50, 50]], np.float32)
    c = clip_polygon(tri, 100, 100)
    assert c[:, 0].min() >= 0 and c[:, 0].max() <= 100 and c[:, 1].min() >= 0


def test_letterbox_matrix_maps_points():
    img = np.zeros((50, 100, 3), np.uint8)
    out, r, (left, top), M = letterbox(img, (64, 64))
    assert out.shape == (64, 64, 3) and r == pytest.approx(0.64) and left == 0 and top == 16
    p = M @ np.array([100, 50, 1.0])
    assert p[:2] == pytest.approx([64, 48])


@pytest.mark.parametrize("seed", range(4))
def test_warped_mask_covers_warped_object(maker, shapes, seed):
    recs = [maker.image(f"i{k}", 96 + 16 * k, 128, [shapes["triangle"]]) for k in range(4)]
    ds = SegmentDataset(maker.index(recs), 128, augment=True, hyp=HEAVY, mask_ratio=1, overlap=False)
    np.random.seed(seed)
    s = ds[0]
    img = s["img"].numpy()[0]
    union = s["masks"].numpy().max(0) if len(s["masks"]) else np.zeros(img.shape, np.uint8)
    bright = img > 127
    assert bright.sum() > 50
    assert _iou(union, bright) > 0.9
    # boxes are recomputed from the warped polygons: each box is inside the image and tight
    b = s["bboxes"].numpy()
    assert (b[:, 2:] > 0).all() and (b[:, :2] >= 0).all() and (b[:, :2] <= 1).all()


def test_copy_paste_adds_consistent_objects(maker, shapes):
    recs = [maker.image("i", 128, 128, [[[0.05, 0.1], [0.3, 0.1], [0.2, 0.4]]])]
    hyp = {**HEAVY, "copy_paste": 1.0, "mosaic": 0.0, "degrees": 0, "shear": 0, "perspective": 0, "scale": 0,
           "translate": 0, "fliplr": 0, "flipud": 0}
    from segctl_tasks_segment.data.augment import copy_paste
    ds = SegmentDataset(maker.index(recs), 128, augment=True, hyp=hyp, mask_ratio=1, overlap=False)
    img, inst = ds.load_pair(0)
    img2, inst2 = copy_paste(img, inst, 1.0)
    assert len(inst2) == 2
    from segctl_tasks_segment.data.masks import instance_masks
    m = instance_masks(inst2, 128, 128).max(0)
    assert _iou(m, img2[..., 0] > 127) > 0.9


def test_rle_instance_carried_through_augmentation(maker, shapes):
    from pycocotools import mask as mask_utils

    rec = maker.image("ring", 96, 96, [])
    img = np.zeros((96, 96, 3), np.uint8)
    cv2.circle(img, (48, 48), 30, (255, 255, 255), -1)
    cv2.circle(img, (48, 48), 12, (0, 0, 0), -1)  # a hole: not one polygon
    cv2.imwrite(rec["im_file"], img)
    m = np.asfortranarray((img[..., 0] > 127).astype(np.uint8))
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode()
    rec.update(cls=np.array([1]), bboxes=np.array([[0.5, 0.5, 0.625, 0.625]], np.float32),
               segments=[np.zeros((0, 2), np.float32)], rle=[rle])
    ds = SegmentDataset(maker.index([rec] * 4), 96, augment=True, hyp=HEAVY, mask_ratio=1, overlap=True)
    for seed in range(3):
        np.random.seed(seed)
        s = ds[0]
        got = s["masks"].numpy() > 0
        bright = s["img"].numpy()[0] > 127
        # every target pixel is on the object; object pixels without a target are only slivers of
        # mosaic tiles cut off by the frame (dropped as too small)
        assert (got & bright).sum() / got.sum() > 0.97
        assert _iou(got, bright) > 0.9
        assert s["cls"].view(-1).tolist() == [1.0] * len(s["cls"])


def test_overlap_mask_order():
    big = np.array([[0, 0], [40, 0], [40, 40], [0, 40]], np.float32)
    small = np.array([[10, 10], [20, 10], [20, 20], [10, 20]], np.float32)
    for order in ([small, big], [big, small]):
        inst = Instances([0, 1], order)
        m = overlap_mask(inst, 48, 48, ratio=1)
        small_id = 1 if order[0] is small else 2
        big_id = 3 - small_id
        assert m[15, 15] == small_id and m[30, 30] == big_id and m[45, 45] == 0
        assert set(np.unique(m)) == {0, 1, 2}


def test_polygon_mask_matches_full_res_downsample():
    tri = np.array([[8, 8], [120, 20], [50, 110]], np.float32)
    full = polygon_mask(tri, 128, 128, 1)
    low = polygon_mask(tri, 128, 128, 4)
    ref = cv2.resize(full.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA) > 0.5
    assert low.shape == (32, 32) and _iou(low, ref) > 0.9


def test_exif_rotated_image_matches_label(maker, tmp_path):
    from PIL import Image

    # displayed image: 32 wide x 64 high with a white box in the top half; stored rotated with EXIF 6
    disp = np.zeros((64, 32, 3), np.uint8)
    disp[4:28, 4:28] = 255
    stored = np.ascontiguousarray(np.rot90(disp, k=1))  # EXIF 6 = rotate 90 CW to display
    path = tmp_path / "exif.jpg"
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(path, exif=exif, quality=100)
    poly = [[4 / 32, 4 / 64], [28 / 32, 4 / 64], [28 / 32, 28 / 64], [4 / 32, 28 / 64]]
    rec = {"im_file": str(path), "shape": (64, 32), "cls": np.array([0]),
           "bboxes": np.array([[0.5, 0.25, 0.75, 0.375]], np.float32), "segments": [np.array(poly, np.float32)]}
    ds = SegmentDataset(maker.index([rec]), 64, augment=False, mask_ratio=1, overlap=False)
    s = ds[0]
    assert _iou(s["masks"].numpy()[0], s["img"].numpy()[0] > 127) > 0.9


def test_collate_shapes(maker, shapes):
    recs = [maker.image("a", 64, 64, [shapes["triangle"], shapes["square"]], cls=[0, 1]),
            maker.image("b", 64, 64, [shapes["square"]], cls=[1])]
    for overlap in (True, False):
        ds = SegmentDataset(maker.index(recs), 64, augment=False, overlap=overlap, mask_ratio=4)
        b = collate([ds[0], ds[1]])
        assert b["img"].shape == (2, 3, 64, 64) and b["img"].dtype.is_floating_point is False
        assert b["cls"].shape == (3, 1) and b["bboxes"].shape == (3, 4)
        assert b["batch_idx"].tolist() == [0.0, 0.0, 1.0]
        assert b["masks"].shape == ((2, 16, 16) if overlap else (3, 16, 16))
        assert b["index"] == [0, 1] and b["ori_shape"] == [(64, 64), (64, 64)]
        assert len(b["ratio_pad"]) == 2 and len(b["im_file"]) == 2
        if overlap:
            assert int(b["masks"][0].max()) == 2 and int(b["masks"][1].max()) == 1
