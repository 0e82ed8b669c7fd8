"""Detection confusion matrix: rows are predicted classes, columns true classes, with an extra
"background" row/column for false positives (predicted, no GT) and misses (GT, no prediction)."""
from __future__ import annotations

import numpy as np
import torch

from .boxes import box_iou


class ConfusionMatrix:
    """Accumulates ``matrix [nc+1, nc+1]`` over images (index ``nc`` = background)."""

    def __init__(self, nc: int, conf: float = 0.25, iou: float = 0.45):
        self.nc, self.conf, self.iou_thres = nc, conf, iou
        self.matrix = np.zeros((nc + 1, nc + 1), dtype=np.int64)

    def process_batch(self, detections, gt_bboxes, gt_cls, iou_matrix=None):
        """Add one image. detections ``[n, 6]`` (xyxy, conf, cls, ...); gt_bboxes ``[m, 4]`` xyxy;
        gt_cls ``[m]``. ``iou_matrix [m, n]`` (e.g. mask IoU) replaces box IoU when given.

        One-to-one matching by decreasing IoU above ``iou``, class-agnostic, so a matched pair with
        different classes lands off the diagonal."""
        det = torch.as_tensor(detections if detections is not None else torch.zeros(0, 6)).reshape(-1, 6)
        keep = det[:, 4] > self.conf
        det = det[keep]
        gt_cls_np = torch.as_tensor(gt_cls).view(-1).long().cpu().numpy()
        det_cls = det[:, 5].long().cpu().numpy()
        m, n = len(gt_cls_np), len(det_cls)
        if m == 0 or n == 0:
            np.add.at(self.matrix, (det_cls, np.full(n, self.nc)), 1)
            np.add.at(self.matrix, (np.full(m, self.nc), gt_cls_np), 1)
            return
        iou = box_iou(torch.as_tensor(gt_bboxes).float().cpu(), det[:, :4].float().cpu()) \
            if iou_matrix is None else torch.as_tensor(iou_matrix).float().cpu()[:, keep.cpu()]
        gi, di = np.nonzero(iou.numpy() > self.iou_thres)
        if len(gi):
            order = np.argsort(-iou.numpy()[gi, di], kind="mergesort")
            gi, di = gi[order], di[order]
            _, first = np.unique(di, return_index=True)
            gi, di = gi[np.sort(first)], di[np.sort(first)]
            _, first = np.unique(gi, return_index=True)
            gi, di = gi[first], di[first]
        np.add.at(self.matrix, (det_cls[di], gt_cls_np[gi]), 1)
        missed = np.setdiff1d(np.arange(m), gi)
        np.add.at(self.matrix, (np.full(len(missed), self.nc), gt_cls_np[missed]), 1)
        extra = np.setdiff1d(np.arange(n), di)
        np.add.at(self.matrix, (det_cls[extra], np.full(len(extra), self.nc)), 1)

    def tp_fp(self):
        """(tp, fp) per class, background excluded."""
        tp = self.matrix.diagonal()
        fp = self.matrix.sum(1) - tp
        return tp[:-1], fp[:-1]

    def normalized(self) -> np.ndarray:
        """Each true-class column divided by its total (recall-like view)."""
        return self.matrix / np.maximum(self.matrix.sum(0, keepdims=True), 1)

    def plot(self, normalize: bool = True, path="confusion_matrix.png", names=None):
        """Write the matrix as a PNG heat map; returns the path."""
        from .plotting import plot_confusion_matrix

        return plot_confusion_matrix(self.normalized() if normalize else self.matrix, path,
                                     names=names, normalize=normalize)
