"""Task-aligned label assignment (TOOD, Feng et al. 2021), as used by YOLOv8.

Why task-aligned: a positive anchor should be one whose *current* prediction is both well
classified and well localised, so the alignment metric ``t = s^alpha * IoU^beta`` couples the two
heads. Everything here is vectorised over the batch and over a padded GT tensor ``[B, max_n, ...]``
(padding rows are marked by ``mask_gt``); there is no Python loop over images or instances.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .boxes import bbox_ciou, box_iou


def make_anchors(feats, strides, offset: float = 0.5):
    """Anchor centres (grid units) and per-anchor stride for a list of feature maps.

    Returns ``anchor_points [N, 2]`` (x, y; cell centres with ``offset``) and ``stride_tensor [N, 1]``,
    N = sum(H_i * W_i), in the same level-major, row-major order the head flattens its outputs.
    """
    points, stride_list = [], []
    ref = feats[0]
    for i, f in enumerate(feats):
        h, w = (int(f[0]), int(f[1])) if not isinstance(f, torch.Tensor) else f.shape[-2:]
        s = float(strides[i])
        sy = torch.arange(h, device=ref.device if isinstance(ref, torch.Tensor) else None, dtype=torch.float32)
        sx = torch.arange(w, device=sy.device, dtype=torch.float32)
        gy, gx = torch.meshgrid(sy + offset, sx + offset, indexing="ij")
        points.append(torch.stack((gx, gy), -1).view(-1, 2))
        stride_list.append(torch.full((h * w, 1), s, dtype=torch.float32, device=sy.device))
    dtype = ref.dtype if isinstance(ref, torch.Tensor) and ref.is_floating_point() else torch.float32
    return torch.cat(points).to(dtype), torch.cat(stride_list).to(dtype)


def anchors_in_boxes(anchor_points: torch.Tensor, gt_bboxes: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """``[B, M, N]`` bool: anchor centre strictly inside each GT box."""
    lt, rb = gt_bboxes[..., None, :2], gt_bboxes[..., None, 2:4]  # [B, M, 1, 2]
    delta = torch.cat((anchor_points[None, None] - lt, rb - anchor_points[None, None]), -1)
    return delta.amin(-1) > eps


class TaskAlignedAssigner:
    """Assign GT boxes to anchors by the task-alignment metric.

    ``iou_type="ciou"`` (default) scores localisation with Complete-IoU clamped at 0, as the
    published YOLOv8 assigner does; ``"iou"`` uses plain IoU.
    """

    def __init__(self, topk: int = 10, num_classes: int = 80, alpha: float = 0.5, beta: float = 6.0,
                 eps: float = 1e-9, iou_type: str = "ciou"):
        self.topk, self.num_classes = topk, num_classes
        self.alpha, self.beta, self.eps = alpha, beta, eps
        self.iou_type = iou_type

    @torch.no_grad()
    def __call__(self, pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt):
        """Assign targets.

        Args:
            pd_scores ``[B, N, C]`` probabilities; pd_bboxes ``[B, N, 4]`` xyxy (same units as GT);
            anc_points ``[N, 2]``; gt_labels ``[B, M, 1]``; gt_bboxes ``[B, M, 4]`` xyxy;
            mask_gt ``[B, M, 1]`` (1 for real GT rows, 0 for padding).
        Returns:
            target_labels ``[B, N]`` long, target_bboxes ``[B, N, 4]``, target_scores ``[B, N, C]``
            (one-hot scaled by the normalised alignment), fg_mask ``[B, N]`` bool,
            target_gt_idx ``[B, N]`` long (row of the padded GT tensor).
        """
        B, N, C = pd_scores.shape
        M = gt_bboxes.shape[1]
        dev = pd_scores.device
        if M == 0:
            return (torch.full((B, N), self.num_classes, dtype=torch.long, device=dev),
                    torch.zeros_like(pd_bboxes), torch.zeros_like(pd_scores),
                    torch.zeros((B, N), dtype=torch.bool, device=dev),
                    torch.zeros((B, N), dtype=torch.long, device=dev))

        valid = mask_gt.squeeze(-1).bool()  # [B, M]
        inside = anchors_in_boxes(anc_points, gt_bboxes) & valid[..., None]  # [B, M, N]
        overlaps = self._overlaps(pd_bboxes, gt_bboxes) * inside  # [B, M, N]
        labels = gt_labels.squeeze(-1).long().clamp(0, C - 1)  # [B, M]
        cls_scores = pd_scores.gather(2, labels[:, None, :].expand(B, N, M)).transpose(1, 2)  # [B, M, N]
        align = cls_scores.pow(self.alpha) * overlaps.pow(self.beta) * inside

        # top-k anchors per GT, kept only if inside it (a zero metric still counts, as published)
        k = min(self.topk, N)
        topi = align.topk(k, dim=-1).indices
        mask_topk = torch.zeros_like(align, dtype=torch.bool)
        mask_topk.scatter_(-1, topi, True)
        mask_pos = mask_topk & inside  # [B, M, N]

        # an anchor claimed by several GTs keeps only the one it overlaps most
        multi = mask_pos.sum(1, keepdim=True) > 1  # [B, 1, N]
        if multi.any():
            best = overlaps.argmax(1)  # [B, N]
            is_best = F.one_hot(best, M).permute(0, 2, 1).bool()
            mask_pos = torch.where(multi, is_best & mask_pos.any(1, keepdim=True), mask_pos)
        fg_mask = mask_pos.any(1)  # [B, N]
        target_gt_idx = mask_pos.float().argmax(1)  # [B, N]

        batch_off = torch.arange(B, device=dev)[:, None] * M
        flat = target_gt_idx + batch_off
        target_labels = labels.flatten()[flat]  # [B, N]
        target_bboxes = gt_bboxes.reshape(-1, 4)[flat]  # [B, N, 4]
        target_scores = F.one_hot(target_labels, C).to(pd_scores.dtype) * fg_mask[..., None]

        # normalise: per GT, scale alignment so its best anchor gets that GT's best IoU
        align = align * mask_pos
        pos_align_max = align.amax(-1, keepdim=True)  # [B, M, 1]
        pos_iou_max = (overlaps * mask_pos).amax(-1, keepdim=True)
        norm = (align * pos_iou_max / (pos_align_max + self.eps)).amax(1)  # [B, N]
        target_scores = target_scores * norm[..., None]
        return target_labels, target_bboxes, target_scores, fg_mask, target_gt_idx

    def _overlaps(self, pd_bboxes, gt_bboxes):
        """``[B, M, N]`` localisation quality of each prediction for each GT."""
        if self.iou_type == "iou":
            return torch.stack([box_iou(g, p) for g, p in zip(gt_bboxes, pd_bboxes)]).clamp(min=0)
        return bbox_ciou(gt_bboxes[:, :, None, :], pd_bboxes[:, None, :, :]).clamp(min=0)
