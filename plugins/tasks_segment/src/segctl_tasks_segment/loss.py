"""Training losses for YOLOv8-style detect and segment heads.

Layout follows docs/contracts.md: train-mode outputs are ``feats`` (detect) or
``(feats, mask_coeffs [B, nm, N], protos [B, nm, h, w])`` (segment); the batch holds ``cls``,
``bboxes`` (normalised cx cy w h), ``batch_idx`` and ``masks``. Both losses return
``(sum(items) * batch_size, items.detach())`` so gradients scale like the published recipe
(which sums, not averages, over the batch); items are (box, cls, dfl) for detect and
(box, seg, cls, dfl) for segment.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .assigner import TaskAlignedAssigner, make_anchors
from .boxes import bbox2dist, bbox_ciou, dist2bbox, xywh2xyxy


def _hyp(hyp, key, default):
    """Read a gain from a dict, a namespace or None (why: trainers pass either)."""
    if hyp is None:
        return default
    if isinstance(hyp, dict):
        return float(hyp.get(key, default))
    return float(getattr(hyp, key, default))


def pad_targets(batch_idx, cls, bboxes_xyxy, batch_size):
    """Pack ``M`` instances into a padded ``[B, max_n, 5]`` (cls, x1, y1, x2, y2) tensor.

    Within an image the original instance order is preserved (stable sort), so padded row ``j``
    is the instance whose overlap-mask value is ``j + 1``. Also returns ``starts [B]``: the
    offset of each image's first instance in batch-idx-sorted order, and that sort ``order``.
    """
    dev = bboxes_xyxy.device
    idx = batch_idx.view(-1).long()
    counts = torch.bincount(idx, minlength=batch_size)
    starts = counts.cumsum(0) - counts
    max_n = int(counts.max()) if idx.numel() else 0
    out = torch.zeros(batch_size, max_n, 5, device=dev, dtype=bboxes_xyxy.dtype)
    order = torch.sort(idx, stable=True).indices
    if idx.numel():
        sidx = idx[order]
        pos = torch.arange(idx.numel(), device=dev) - starts[sidx]
        out[sidx, pos] = torch.cat((cls.view(-1, 1).to(out.dtype), bboxes_xyxy), 1)[order]
    return out, starts, order


class DFLoss(nn.Module):
    """Distribution focal loss (Li et al. 2020): cross-entropy on the two bins that bracket the
    continuous target, weighted by proximity, so the network learns a sharp distribution."""

    def __init__(self, reg_max: int = 16):
        super().__init__()
        self.reg_max = reg_max

    def forward(self, pred_dist: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """pred_dist ``[K, 4, reg_max]`` logits, target ``[K, 4]`` in bins -> ``[K, 1]``."""
        tl = target.long()
        wl = tl + 1 - target
        wr = 1 - wl
        logp = F.log_softmax(pred_dist.float(), -1)
        left = -logp.gather(-1, tl[..., None]).squeeze(-1)
        right = -logp.gather(-1, (tl + 1).clamp(max=self.reg_max - 1)[..., None]).squeeze(-1)
        return (left * wl + right * wr).mean(-1, keepdim=True)


class DetectionLoss:
    """Box (CIoU), classification (BCE) and DFL losses with task-aligned assignment."""

    n_items = 3

    def __init__(self, model, hyp=None, tal_topk: int = 10):
        head = model.head
        self.nc, self.reg_max = int(head.nc), int(head.reg_max)
        self.no = self.nc + 4 * self.reg_max
        stride = getattr(model, "stride", getattr(head, "stride", None))
        self.stride = torch.as_tensor(stride, dtype=torch.float32).flatten()
        self.box_gain = _hyp(hyp, "box", 7.5)
        self.cls_gain = _hyp(hyp, "cls", 0.5)
        self.dfl_gain = _hyp(hyp, "dfl", 1.5)
        self.assigner = TaskAlignedAssigner(topk=tal_topk, num_classes=self.nc, alpha=0.5, beta=6.0)
        self.dfl = DFLoss(self.reg_max)
        self.proj = torch.arange(self.reg_max, dtype=torch.float32)

    # ---- shared pieces -------------------------------------------------------------------
    def _split(self, feats):
        B = feats[0].shape[0]
        cat = torch.cat([f.view(B, self.no, -1) for f in feats], 2)
        pred_distri, pred_scores = cat.split((4 * self.reg_max, self.nc), 1)
        return pred_distri.permute(0, 2, 1).contiguous(), pred_scores.permute(0, 2, 1).contiguous()

    def _decode(self, anchor_points, pred_distri):
        B, N, _ = pred_distri.shape
        if self.reg_max == 1:  # direct box regression (no DFL): the four side distances themselves
            return dist2bbox(pred_distri, anchor_points)
        dist = pred_distri.view(B, N, 4, self.reg_max).softmax(3) @ self.proj.to(pred_distri)
        return dist2bbox(dist, anchor_points)

    def _assign(self, feats, batch):
        """Everything both losses need: predictions, anchors and assigned targets."""
        pred_distri, pred_scores = self._split(feats)
        B, dtype, dev = pred_scores.shape[0], pred_scores.dtype, pred_scores.device
        stride = self.stride.to(dev)
        imgsz = torch.tensor(feats[0].shape[2:], device=dev, dtype=dtype) * stride[0]  # (h, w)
        anchor_points, stride_tensor = make_anchors(feats, stride, 0.5)
        scale = imgsz[[1, 0, 1, 0]]
        boxes = xywh2xyxy(batch["bboxes"].to(dev, dtype)) * scale
        targets, starts, order = pad_targets(batch["batch_idx"].to(dev), batch["cls"].to(dev), boxes, B)
        gt_labels, gt_bboxes = targets[..., :1], targets[..., 1:5]
        mask_gt = gt_bboxes.sum(2, keepdim=True).gt_(0.0)
        pred_bboxes = self._decode(anchor_points, pred_distri)  # grid units, xyxy
        _, target_bboxes, target_scores, fg_mask, target_gt_idx = self.assigner(
            pred_scores.detach().sigmoid(), (pred_bboxes.detach() * stride_tensor).type(gt_bboxes.dtype),
            anchor_points * stride_tensor, gt_labels, gt_bboxes, mask_gt)
        return dict(pred_distri=pred_distri, pred_scores=pred_scores, pred_bboxes=pred_bboxes,
                    anchor_points=anchor_points, stride_tensor=stride_tensor, imgsz=imgsz,
                    target_bboxes=target_bboxes, target_scores=target_scores, fg_mask=fg_mask,
                    target_gt_idx=target_gt_idx, starts=starts, order=order, batch_size=B)

    def _box_cls_dfl(self, a):
        """(box, cls, dfl) un-gained losses, each normalised by the sum of target scores."""
        ts = a["target_scores"]
        ts_sum = ts.sum().clamp(min=1)
        cls = F.binary_cross_entropy_with_logits(a["pred_scores"], ts.to(a["pred_scores"].dtype),
                                                 reduction="none").sum() / ts_sum
        fg = a["fg_mask"]
        if not fg.any():
            zero = a["pred_distri"].sum() * 0
            return zero, cls, zero
        target = a["target_bboxes"] / a["stride_tensor"]
        weight = ts.sum(-1)[fg].unsqueeze(-1)
        ciou = bbox_ciou(a["pred_bboxes"][fg], target[fg])
        box = ((1.0 - ciou)[:, None] * weight).sum() / ts_sum
        if self.reg_max == 1:  # no distribution to learn: the box (CIoU) loss alone
            return box, cls, box * 0
        ltrb = bbox2dist(a["anchor_points"], target, self.reg_max - 1)
        dfl = self.dfl(a["pred_distri"][fg].view(-1, 4, self.reg_max), ltrb[fg])
        return box, cls, (dfl * weight).sum() / ts_sum

    def __call__(self, preds, batch):
        feats = preds[1] if isinstance(preds, tuple) and len(preds) == 2 else preds
        a = self._assign(list(feats), batch)
        box, cls, dfl = self._box_cls_dfl(a)
        items = torch.stack((box * self.box_gain, cls * self.cls_gain, dfl * self.dfl_gain))
        return items.sum() * a["batch_size"], items.detach()


class SegmentationLoss(DetectionLoss):
    """Detection losses plus a per-instance mask loss on prototype combinations."""

    n_items = 4

    def __init__(self, model, hyp=None, tal_topk: int = 10, overlap=None):
        super().__init__(model, hyp, tal_topk)
        self.nm = int(model.head.nm)
        if overlap is None and hyp is not None:
            overlap = hyp.get("overlap_mask") if isinstance(hyp, dict) else getattr(hyp, "overlap_mask", None)
        self.overlap = overlap  # None: infer from the masks tensor (see _gt_masks)

    def __call__(self, preds, batch):
        if isinstance(preds, tuple) and len(preds) == 2 and isinstance(preds[1], (tuple, list)):
            preds = preds[1]  # (eval_out, train_out) pairs
        feats, pred_masks, proto = preds
        a = self._assign(list(feats), batch)
        box, cls, dfl = self._box_cls_dfl(a)
        seg = self._mask_loss(a, batch, pred_masks, proto)
        items = torch.stack((box * self.box_gain, seg * self.box_gain, cls * self.cls_gain, dfl * self.dfl_gain))
        return items.sum() * a["batch_size"], items.detach()

    def _gt_masks(self, batch, B, mh, mw, device):
        """GT masks at prototype resolution; returns (masks, overlap flag)."""
        masks = batch["masks"].to(device).float()
        n_inst = batch["batch_idx"].numel()
        overlap = self.overlap
        if overlap is None:  # [B, ...] index maps vs [M, ...] binary masks; equal counts: look at values
            overlap = masks.shape[0] != n_inst or (masks.shape[0] == B and bool(masks.max() > 1))
        if tuple(masks.shape[-2:]) != (mh, mw):
            masks = F.interpolate(masks[None], (mh, mw), mode="nearest")[0]
        return masks, overlap

    def _mask_loss(self, a, batch, pred_masks, proto):
        """Mean over positive anchors of the box-cropped, box-area-normalised BCE mask loss."""
        fg = a["fg_mask"]
        B, nm, mh, mw = proto.shape
        if not fg.any():
            return (proto * 0).sum() + (pred_masks * 0).sum()
        masks, overlap = self._gt_masks(batch, B, mh, mw, proto.device)
        if not overlap:
            masks = masks[a["order"]]  # instances sorted by image, so row = starts[b] + gt_idx
        pm = pred_masks.permute(0, 2, 1)  # [B, N, nm]
        scale = torch.tensor([mw, mh, mw, mh], device=proto.device, dtype=proto.dtype) / a["imgsz"][[1, 0, 1, 0]]
        ys = torch.arange(mh, device=proto.device, dtype=proto.dtype)[None, :, None] + 0.5
        xs = torch.arange(mw, device=proto.device, dtype=proto.dtype)[None, None, :] + 0.5
        total = proto.sum() * 0
        for b in range(B):  # one einsum per image; vectorised over that image's positives
            fb = fg[b]
            if not fb.any():
                continue
            gidx = a["target_gt_idx"][b][fb]
            if overlap:
                gt = (masks[b][None] == (gidx + 1).view(-1, 1, 1).to(masks.dtype)).to(proto.dtype)
            else:
                gt = masks[a["starts"][b] + gidx].to(proto.dtype)
            logits = torch.einsum("pn,nhw->phw", pm[b][fb], proto[b])
            bce = F.binary_cross_entropy_with_logits(logits, gt, reduction="none")
            mxyxy = a["target_bboxes"][b][fb] * scale  # proto pixels
            x1, y1, x2, y2 = (mxyxy[:, i, None, None] for i in range(4))
            inside = (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)
            area = ((x2 - x1) * (y2 - y1)).view(-1).clamp(min=1.0)
            total = total + ((bce * inside).sum((1, 2)) / area).sum()
        return total / fg.sum()


class DualAssignmentSegmentationLoss:
    """For heads trained with dual assignment (train output ``{"one2many": (feats, mc, proto),
    "one2one": (...), "semseg": logits}``, docs/contracts.md "End-to-end heads").

    Published recipe (YOLOv10's consistent dual assignment, kept by YOLO26): the one-to-many
    branch with the task-aligned assigner (top 10 per object), the one-to-one branch with the same
    metric but a single positive per object (top 1), both losses summed. The ``semseg`` logits get
    an auxiliary per-class BCE against the union of each class's instance masks (stride 8), added
    to the ``seg`` item. Not implemented: small-target-aware assignment and progressive loss
    balancing (not published precisely enough to reproduce)."""

    n_items = 4

    def __init__(self, model, hyp=None, overlap=None, semseg_gain: float = 1.0):
        self.many = SegmentationLoss(model, hyp, tal_topk=10, overlap=overlap)
        self.one = SegmentationLoss(model, hyp, tal_topk=1, overlap=overlap)
        self.nc, self.semseg_gain = self.many.nc, float(semseg_gain)

    def __call__(self, preds, batch):
        if isinstance(preds, tuple) and len(preds) == 2 and isinstance(preds[1], dict):
            preds = preds[1]
        l1, i1 = self.many(preds["one2many"], batch)
        l2, i2 = self.one(preds["one2one"], batch)
        items = i1 + i2
        loss = l1 + l2
        sem = preds.get("semseg")
        if sem is not None:
            s = self._semseg(sem, batch) * self.semseg_gain
            B = sem.shape[0]
            loss = loss + s * B
            items = items.clone()
            items[1] = items[1] + s.detach()
        return loss, items

    def _semseg(self, logits, batch):
        B, nc, h, w = logits.shape
        masks = batch["masks"].to(logits.device).float()
        if masks.shape[0] != B or batch["batch_idx"].numel() == masks.shape[0] and not bool(masks.max() > 1):
            return logits.sum() * 0  # per-instance masks (overlap_mask=False): not supported here
        masks = F.interpolate(masks[None], (h, w), mode="nearest")[0]
        boxes = torch.zeros(batch["batch_idx"].numel(), 4, device=logits.device)
        targets, _, _ = pad_targets(batch["batch_idx"].to(logits.device), batch["cls"].to(logits.device), boxes, B)
        target = torch.zeros_like(logits)
        for b in range(B):
            for k in range(targets.shape[1]):
                inst = masks[b] == k + 1
                if inst.any():
                    c = int(targets[b, k, 0])
                    target[b, c] = torch.maximum(target[b, c], inst.to(logits.dtype))
        return F.binary_cross_entropy_with_logits(logits, target)

