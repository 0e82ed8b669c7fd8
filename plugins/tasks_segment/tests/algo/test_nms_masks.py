import numpy as np
import pytest
import torch

from segctl.errors import UsageError
from segctl_tasks_segment.masks_ops import (mask_iou, masks2polygons, polygons2mask, process_masks,
                                            process_masks_native, scale_masks)
from segctl_tasks_segment.ops import non_max_suppression


def raw(boxes_xywh, scores, coeffs):
    """Stack candidates into the contract layout [1, 4+nc+nm, N]."""
    return torch.cat((torch.tensor(boxes_xywh, dtype=torch.float32), torch.tensor(scores, dtype=torch.float32),
                      torch.tensor(coeffs, dtype=torch.float32)), 1).T[None]


def test_nms_suppresses_same_class_keeps_other_class():
    boxes = [[50, 50, 20, 20], [51, 50, 20, 20], [50, 50, 20, 20], [150, 150, 10, 10], [10, 10, 4, 4]]
    scores = [[0.9, 0.0], [0.8, 0.1], [0.0, 0.7], [0.3, 0.0], [0.1, 0.2]]
    coeffs = [[i, -i] for i in range(5)]
    out = non_max_suppression(raw(boxes, scores, coeffs), conf=0.25, iou=0.5, nc=2)
    assert len(out) == 1 and out[0].shape == (3, 8)
    d = out[0]
    assert d[:, 4].tolist() == pytest.approx([0.9, 0.7, 0.3])
    assert d[:, 5].tolist() == [0, 1, 0]
    assert d[:, 6].tolist() == [0, 2, 3]  # coefficients travel with their box
    assert d[0, :4].tolist() == [40, 40, 60, 60]
    agn = non_max_suppression(raw(boxes, scores, coeffs), conf=0.25, iou=0.5, nc=2, agnostic=True)[0]
    assert agn[:, 4].tolist() == pytest.approx([0.9, 0.3])
    only1 = non_max_suppression(raw(boxes, scores, coeffs), conf=0.25, iou=0.5, nc=2, classes=[1])[0]
    assert only1[:, 5].tolist() == [1]
    ml = non_max_suppression(raw(boxes, scores, coeffs), conf=0.05, iou=0.5, nc=2, multi_label=True)[0]
    assert ((ml[:, 5] == 1) & (ml[:, 4] > 0.15) & (ml[:, 4] < 0.25)).any()  # second label of box 4 kept
    assert len(non_max_suppression(raw(boxes, scores, coeffs), conf=0.25, iou=0.5, nc=2, max_det=2)[0]) == 2


def test_nms_empty_batch_and_errors():
    pred = torch.zeros(2, 4 + 3 + 5, 100)
    out = non_max_suppression((pred, torch.zeros(2, 5, 8, 8)), nc=3)
    assert len(out) == 2 and out[0].shape == (0, 11)
    with pytest.raises(UsageError):
        non_max_suppression(pred, conf=2.0, nc=3)
    with pytest.raises(UsageError):
        non_max_suppression(pred, nc=20)


def _protos(h=16, w=16):
    """Prototype 0 is positive everywhere; coefficient sign picks foreground/background."""
    p = torch.zeros(2, h, w)
    p[0] = 4.0
    p[1, : h // 2] = 4.0
    p[1, h // 2:] = -4.0
    return p


def test_process_masks_inside_boxes_and_threshold():
    protos = _protos()
    coeffs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    boxes = torch.tensor([[8.0, 8.0, 40.0, 30.0], [0.0, 0.0, 64.0, 64.0], [0.0, 0.0, 64.0, 64.0]])
    m = process_masks(protos, coeffs, boxes, (64, 64))
    assert m.shape == (3, 64, 64) and m.dtype == torch.bool
    assert m[0].sum() == 32 * 22 and m[0, 8:30, 8:40].all()  # full box, nothing outside
    assert m[1, :32].all() and not m[1, 32:].any()  # top half prototype
    assert not m[2].any()
    # random coefficients: never outside the box
    g = torch.Generator().manual_seed(0)
    rp = torch.randn(8, 16, 16, generator=g)
    rc = torch.randn(20, 8, generator=g)
    xy = torch.rand(20, 2, generator=g) * 40
    rb = torch.cat((xy, xy + 4 + torch.rand(20, 2, generator=g) * 20), 1)
    rm = process_masks(rp, rc, rb, (64, 64))
    ys, xs = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    inside = (xs >= rb[:, 0, None, None]) & (xs < rb[:, 2, None, None]) & (ys >= rb[:, 1, None, None]) & (
        ys < rb[:, 3, None, None])
    assert not (rm & ~inside).any()
    assert process_masks(rp, rc[:0], rb[:0], (64, 64)).shape == (0, 64, 64)
    assert process_masks(rp, rc, rb, (64, 64), upsample=False).shape == (20, 16, 16)


def test_native_masks_remove_letterbox_padding():
    # original 32 x 64 (h x w) letterboxed into 64 x 64 with 16 px bars top and bottom
    protos = torch.full((1, 16, 16), -4.0)
    protos[0, 4:12, 0:8] = 4.0  # left half of the content region (input rows 16..48)
    m = process_masks_native(protos, torch.ones(1, 1), torch.tensor([[0.0, 0.0, 64.0, 32.0]]), (32, 64),
                             ratio_pad=((1.0, 1.0), (0.0, 16.0)), input_shape=(64, 64))
    assert m.shape == (1, 32, 64)
    assert m[0, :, :30].all() and not m[0, :, 34:].any()
    s = scale_masks(torch.ones(2, 16, 16), (32, 64))
    assert s.shape == (2, 32, 64)


def test_mask_iou_vectorised():
    a = torch.zeros(2, 4, 4, dtype=torch.bool)
    a[0, :2] = True
    a[1] = True
    b = torch.zeros(3, 4, 4, dtype=torch.bool)
    b[0, :2] = True
    b[1, 2:] = True
    iou = mask_iou(a.view(2, -1), b.view(3, -1))
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(1.0) and iou[0, 1] == 0 and iou[1, 1] == pytest.approx(0.5)
    assert iou[:, 2].abs().sum() == 0


def test_polygons_round_trip():
    poly = np.array([[10, 10], [50, 12], [60, 40], [30, 55], [8, 35]], np.float32)
    m = polygons2mask([poly], (64, 80))
    extra = m.copy()
    extra[2:5, 70:75] = 1  # a small second blob
    polys = masks2polygons(np.stack([m, extra, np.zeros_like(m)]))
    assert polys[2].shape == (0, 2)
    back = polygons2mask([polys[0]], (64, 80))
    inter, union = (back & m).sum(), (back | m).sum()
    assert inter / union > 0.97
    assert len(polys[1]) == len(polys[0])  # "largest" ignores the blob
    both = masks2polygons(extra[None], strategy="all")[0]
    assert both[:, 0].max() >= 70 and both[:, 0].min() <= 10
