"""Association costs and the assignment solver.

Box IoU is vectorised; mask IoU is computed only for pairs whose boxes overlap, on the masks'
bounding-box crops (a track's mask is moved by the motion the Kalman filter predicts since it was
last seen), so its cost grows with the overlapping pairs, not with the image size. Assignment is a
real linear-assignment solve (``lap.lapjv`` when installed, else SciPy's ``linear_sum_assignment``),
with costs above the threshold forbidden rather than merely expensive.
"""
from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``[len(a), len(b)]`` of xyxy boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


class MaskCrop:
    """A binary mask kept as its bounding-box crop and the crop's top-left corner (x0, y0)."""

    __slots__ = ("crop", "x0", "y0", "area")

    def __init__(self, mask: np.ndarray):
        mask = np.asarray(mask).astype(bool)
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        if not len(rows):
            self.crop, self.x0, self.y0, self.area = np.zeros((0, 0), bool), 0, 0, 0
            return
        self.y0, self.x0 = int(rows[0]), int(cols[0])
        self.crop = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        self.area = int(self.crop.sum())


def crop_iou(a: MaskCrop, b: MaskCrop, dx: int = 0, dy: int = 0) -> float:
    """IoU of two mask crops, ``a`` moved by (dx, dy) pixels."""
    if not a.area or not b.area:
        return 0.0
    ax0, ay0 = a.x0 + dx, a.y0 + dy
    x0, y0 = max(ax0, b.x0), max(ay0, b.y0)
    x1 = min(ax0 + a.crop.shape[1], b.x0 + b.crop.shape[1])
    y1 = min(ay0 + a.crop.shape[0], b.y0 + b.crop.shape[0])
    inter = 0
    if x1 > x0 and y1 > y0:
        pa = a.crop[y0 - ay0:y1 - ay0, x0 - ax0:x1 - ax0]
        pb = b.crop[y0 - b.y0:y1 - b.y0, x0 - b.x0:x1 - b.x0]
        inter = int(np.count_nonzero(pa & pb))
    return inter / max(a.area + b.area - inter, 1)


def linear_assignment(cost: np.ndarray, thresh: float):
    """Minimum-cost matching with every accepted pair's cost ``<= thresh``.

    Returns ``(matches [k, 2] of (row, col), unmatched rows, unmatched cols)``."""
    n, m = cost.shape
    if not n or not m:
        return np.empty((0, 2), int), np.arange(n), np.arange(m)
    try:
        import lap

        _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=thresh)
        matches = np.array([[i, j] for i, j in enumerate(x) if j >= 0], dtype=int).reshape(-1, 2)
    except ImportError:
        from scipy.optimize import linear_sum_assignment

        big = thresh + 1e4
        rows, cols = linear_sum_assignment(np.where(cost > thresh, big, cost))
        keep = cost[rows, cols] <= thresh
        matches = np.stack([rows[keep], cols[keep]], 1).astype(int)
    ur = np.setdiff1d(np.arange(n), matches[:, 0])
    uc = np.setdiff1d(np.arange(m), matches[:, 1])
    return matches, ur, uc
