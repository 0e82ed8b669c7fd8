import math

import numpy as np
import torch

from segctl_tasks_segment.assigner import TaskAlignedAssigner, make_anchors
from segctl_tasks_segment.boxes import (bbox2dist, bbox_ciou, box_iou, dist2bbox, scale_boxes, xywh2xyxy,
                                        xyxy2xywh)


def grid(n=4, s=8.0):
    pts, st = make_anchors([torch.zeros(1, 1, n, n)], [s])
    return pts * st, st


def test_make_anchors_order_and_strides():
    feats = [torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 1, 1)]
    pts, st = make_anchors(feats, [8, 16, 32])
    assert pts.shape == (21, 2) and st.shape == (21, 1)
    assert pts[0].tolist() == [0.5, 0.5] and pts[1].tolist() == [1.5, 0.5] and pts[4].tolist() == [0.5, 1.5]
    assert st[:16].eq(8).all() and st[16:20].eq(16).all() and st[20].item() == 32


def test_box_conversions_and_iou():
    b = torch.tensor([[10.0, 20.0, 4.0, 6.0]])
    assert torch.allclose(xyxy2xywh(xywh2xyxy(b)), b)
    a = torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 15]])
    iou = box_iou(a, a)
    assert torch.allclose(iou.diagonal(), torch.ones(2), atol=1e-6)
    assert abs(iou[0, 1].item() - 25 / 175) < 1e-6
    # CIoU equals IoU for concentric boxes of the same aspect ratio, and is < IoU when shifted
    c = bbox_ciou(torch.tensor([0.0, 0, 10, 10]), torch.tensor([2.5, 2.5, 7.5, 7.5]))
    assert abs(c.item() - 0.25) < 1e-5
    assert bbox_ciou(a[0], a[1]).item() < iou[0, 1].item()
    anc = torch.tensor([[5.0, 5.0]])
    box = torch.tensor([[1.0, 2.0, 8.0, 9.0]])
    assert torch.allclose(dist2bbox(bbox2dist(anc, box, 15), anc), box)


def test_scale_boxes_inverts_letterbox():
    orig = (300, 600)  # h, w -> gain 640/600, content 320x640 padded to 640x640: pad_h 160
    gain = 640 / 600
    box_orig = torch.tensor([[60.0, 30.0, 300.0, 150.0]])
    box_in = box_orig * gain + torch.tensor([0.0, 160.0, 0.0, 160.0])
    out = scale_boxes((640, 640), box_in, orig)
    assert torch.allclose(out, box_orig, atol=0.01)
    out2 = scale_boxes((640, 640), box_in, orig, ratio_pad=((gain, gain), (0.0, 160.0)))
    assert torch.allclose(out2, box_orig, atol=1e-4)


def _run(assigner, pd_scores, pd_boxes, anc, labels, gt, mask):
    return assigner(pd_scores, pd_boxes, anc, labels, gt, mask)


def test_all_anchors_inside_small_box_are_positive():
    anc, _ = grid()
    N = len(anc)
    pd = torch.full((1, N, 2), 0.5)
    pb = torch.tensor([0.0, 0, 16, 16]).expand(1, N, 4).clone()
    gt = torch.tensor([[[0.0, 0, 16, 16]]])
    lab, tb, ts, fg, gi = _run(TaskAlignedAssigner(10, 2), pd, pb, anc, torch.tensor([[[1.0]]]), gt, torch.ones(1, 1, 1))
    inside = ((anc[:, 0] < 16) & (anc[:, 1] < 16))
    assert fg[0].tolist() == inside.tolist() and fg.sum() == 4
    assert (lab[0][fg[0]] == 1).all() and torch.allclose(tb[0][fg[0]], gt[0, 0].expand(4, 4))
    assert ts[0][~fg[0]].abs().sum() == 0 and (ts[0][fg[0]][:, 0] == 0).all()
    assert torch.allclose(ts[0][fg[0]][:, 1], torch.ones(4))  # perfect boxes, equal scores -> 1


def test_topk_keeps_best_aligned_anchors_and_normalises():
    anc, _ = grid()
    N = len(anc)
    gt = torch.tensor([[[0.0, 0, 32, 32]]])
    pb = torch.tensor([8.0, 8, 24, 24]).expand(1, N, 4).clone()  # IoU 0.25 everywhere
    pb[0, 5] = gt[0, 0]
    pb[0, 6] = torch.tensor([1.0, 1, 31, 31])
    pd = torch.full((1, N, 1), 0.3)
    a = TaskAlignedAssigner(topk=2, num_classes=1, iou_type="iou")
    _, _, ts, fg, _ = _run(a, pd, pb, anc, torch.zeros(1, 1, 1), gt, torch.ones(1, 1, 1))
    assert fg[0].nonzero().view(-1).tolist() == [5, 6]
    # best anchor gets the GT's best IoU (1.0); the other is scaled by its alignment ratio
    assert abs(ts[0, 5, 0].item() - 1.0) < 1e-5
    expected = (30 * 30 / 1024) ** 6
    assert abs(ts[0, 6, 0].item() - expected) < 1e-4


def test_conflict_resolved_by_highest_iou_and_padding_ignored():
    anc, _ = grid()
    N = len(anc)
    gt = torch.tensor([[[0.0, 0, 20, 20], [8.0, 0, 32, 20], [0, 0, 0, 0]]])
    mask = torch.tensor([[[1.0], [1.0], [0.0]]])
    pb = torch.tensor([8.0, 0, 32, 20]).expand(1, N, 4).clone()  # all predictions look like GT 1
    pd = torch.full((1, N, 3), 0.5)
    labels = torch.tensor([[[0.0], [1.0], [2.0]]])
    lab, _, _, fg, gi = _run(TaskAlignedAssigner(10, 3), pd, pb, anc, labels, gt, mask)
    shared = (anc[:, 0] > 8) & (anc[:, 0] < 20) & (anc[:, 1] < 20)  # inside both GT 0 and GT 1
    assert shared.any() and (gi[0][shared] == 1).all() and (lab[0][shared] == 1).all()
    assert not (gi[0][fg[0]] == 2).any()


def test_no_gt_gives_background():
    anc, _ = grid()
    N = len(anc)
    lab, tb, ts, fg, gi = TaskAlignedAssigner(10, 3)(torch.rand(2, N, 3), torch.rand(2, N, 4), anc,
                                                     torch.zeros(2, 0, 1), torch.zeros(2, 0, 4), torch.zeros(2, 0, 1))
    assert not fg.any() and (lab == 3).all() and ts.sum() == 0


def test_ciou_gradient_finite():
    a = torch.tensor([[1.0, 1, 5, 9]], requires_grad=True)
    loss = (1 - bbox_ciou(a, torch.tensor([[2.0, 0, 6, 7]]))).sum()
    loss.backward()
    assert torch.isfinite(a.grad).all() and not math.isnan(loss.item())
    assert np.isfinite(loss.item())
