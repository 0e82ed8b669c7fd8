"""Non-maximum suppression over the raw head output ``[B, 4+nc+nm, N]`` (docs/contracts.md).

Why this shape of implementation: the confidence filter is applied to the whole batch at once,
and ``torchvision.ops.batched_nms`` does class-aware suppression in one call per image, so the
cost is dominated by the (compiled) NMS kernel, not by Python.
"""
from __future__ import annotations

import torch
import torchvision

from segctl.errors import UsageError

from .boxes import xywh2xyxy


def non_max_suppression(pred, conf: float = 0.25, iou: float = 0.7, classes=None, agnostic: bool = False,
                        max_det: int = 300, nc: int = 0, max_nms: int = 30000, multi_label: bool = False):
    """Filter raw predictions into detections.

    Args:
        pred: ``[B, 4+nc+nm, N]`` (cx, cy, w, h in input pixels, class probabilities, mask
            coefficients) or the ``(pred, protos)`` tuple a segment model returns in eval mode.
        conf, iou: confidence and NMS IoU thresholds (0..1).
        classes: keep only these class ids. agnostic: suppress across classes.
        max_det: detections kept per image. nc: number of classes (0: all rows after the box are
            classes, i.e. a detect model). max_nms: candidates passed to NMS at most.
        multi_label: one candidate per (box, class) pair above ``conf`` instead of the best class.
    Returns:
        list (one per image) of ``[n, 6+nm]``: x1, y1, x2, y2, conf, cls, mask coefficients.
    """
    if isinstance(pred, (list, tuple)):
        pred = pred[0]
    if not (0 <= conf <= 1 and 0 <= iou <= 1):
        raise UsageError(f"NMS thresholds must be in [0, 1], got conf={conf}, iou={iou}",
                         hint="pass e.g. conf=0.25 iou=0.7")
    B, C, _ = pred.shape
    nc = nc or C - 4
    nm = C - 4 - nc
    if nm < 0:
        raise UsageError(f"nc={nc} does not fit a prediction with {C} rows (4 box + classes + masks)",
                         hint="pass the model's number of classes")
    scores_all = pred[:, 4:4 + nc]
    keep_any = scores_all.amax(1) > conf  # [B, N]
    out = []
    cls_filter = None if classes is None else torch.as_tensor(classes, device=pred.device)
    for b in range(B):
        x = pred[b].transpose(0, 1)[keep_any[b]]  # [n, C]
        if not x.shape[0]:
            out.append(pred.new_zeros((0, 6 + nm)))
            continue
        box = xywh2xyxy(x[:, :4])
        cls_p, coeff = x[:, 4:4 + nc], x[:, 4 + nc:]
        if multi_label:
            i, j = (cls_p > conf).nonzero(as_tuple=True)
            det = torch.cat((box[i], cls_p[i, j, None], j[:, None].to(x.dtype), coeff[i]), 1)
        else:
            score, j = cls_p.max(1, keepdim=True)
            det = torch.cat((box, score, j.to(x.dtype), coeff), 1)[score.view(-1) > conf]
        if cls_filter is not None:
            det = det[(det[:, 5:6] == cls_filter.to(det.dtype)).any(1)]
        if det.shape[0] > max_nms:
            det = det[det[:, 4].topk(max_nms).indices]
        if not det.shape[0]:
            out.append(det)
            continue
        groups = torch.zeros_like(det[:, 5]) if agnostic else det[:, 5]
        k = torchvision.ops.batched_nms(det[:, :4].float(), det[:, 4].float(), groups.long(), iou)
        out.append(det[k[:max_det]])
    return out
