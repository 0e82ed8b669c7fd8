"""The objects of one training sample, kept consistent with the image through every transform.

Why one matrix path for everything: letterbox, mosaic placement, flips and random perspective are all
3x3 projective matrices. Applying the *same* matrix to the image, to the polygon vertices and to any
raster masks (RLE instances) guarantees they stay aligned. Polygons are clipped to the output frame
exactly (Sutherland-Hodgman against the four borders, vectorised) rather than by clamping vertices,
so boxes recomputed from them cover only the visible part of the object.
"""
from __future__ import annotations

import cv2
import numpy as np


def clip_polygon(poly: np.ndarray, w: float, h: float) -> np.ndarray:
    """Clip a closed polygon (k, 2) to the rectangle [0, w] x [0, h]; may return (0, 2)."""
    p = poly.astype(np.float32, copy=False)
    if len(p) == 0 or (p.min() >= 0 and p[:, 0].max() <= w and p[:, 1].max() <= h):
        return p  # fast path: already inside
    for axis, bound, keep_ge in ((0, 0.0, True), (0, float(w), False), (1, 0.0, True), (1, float(h), False)):
        if len(p) == 0:
            break
        q = np.concatenate([p[1:], p[:1]])
        a, b = p[:, axis], q[:, axis]
        in_p = a >= bound if keep_ge else a <= bound
        in_q = np.concatenate([in_p[1:], in_p[:1]])
        if in_p.all():
            continue
        denom = np.where(b == a, 1.0, b - a)
        t = ((bound - a) / denom)[:, None]
        cross = p + t * (q - p)
        cross[:, axis] = bound  # exact on the border despite rounding
        out = np.stack([p, cross], axis=1).reshape(-1, 2)
        keep = np.stack([in_p, in_p != in_q], axis=1).reshape(-1)
        p = out[keep]
    return p.reshape(-1, 2)


def polygon_area(p: np.ndarray) -> float:
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0].astype(np.float64), p[:, 1].astype(np.float64)
    return 0.5 * abs(float(x[:-1] @ y[1:] - y[:-1] @ x[1:] + x[-1] * y[0] - y[-1] * x[0]))


class Instances:
    """Objects of one image in pixel coordinates.

    ``cls`` int64 (n,); ``segments`` list of float32 (k, 2) polygons (empty for mask-only objects);
    ``masks`` list of ``None`` or uint8 (H, W) full-image masks (RLE objects that one polygon cannot
    represent). Boxes are always derived, never stored, so they cannot drift from the shapes.
    """

    def __init__(self, cls, segments, masks=None):
        self.cls = np.asarray(cls, dtype=np.int64).reshape(-1)
        self.segments = [np.asarray(s, dtype=np.float32).reshape(-1, 2) for s in segments]
        self.masks = list(masks) if masks is not None else [None] * len(self.cls)
        assert len(self.cls) == len(self.segments) == len(self.masks)

    def __len__(self) -> int:
        return len(self.cls)

    @property
    def has_masks(self) -> bool:
        return any(m is not None for m in self.masks)

    def boxes(self) -> np.ndarray:
        """xyxy pixel boxes (n, 4) from polygons or raster masks."""
        out = np.zeros((len(self), 4), np.float32)
        for i, (s, m) in enumerate(zip(self.segments, self.masks)):
            if m is not None:
                ys, xs = np.nonzero(m)
                if len(xs):
                    out[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            elif len(s):
                out[i] = (*s.min(0), *s.max(0))
        return out

    def areas(self) -> np.ndarray:
        return np.array([float(m.sum()) if m is not None else polygon_area(s)
                         for s, m in zip(self.segments, self.masks)], dtype=np.float64)

    def transform(self, M: np.ndarray, size: tuple[int, int]) -> "Instances":
        """Apply the 3x3 matrix ``M`` and clip to the output ``size`` = (w, h)."""
        w, h = size
        segs, masks = [], []
        Mc = to_pixel_centres(M)
        affine = M[2, 0] == 0 and M[2, 1] == 0 and M[2, 2] == 1
        for s, m in zip(self.segments, self.masks):
            if m is not None:
                if affine:
                    masks.append(cv2.warpAffine(m, Mc[:2], (w, h), flags=cv2.INTER_NEAREST, borderValue=0))
                else:
                    masks.append(cv2.warpPerspective(m, Mc, (w, h), flags=cv2.INTER_NEAREST, borderValue=0))
                segs.append(np.zeros((0, 2), np.float32))
                continue
            masks.append(None)
            if len(s) == 0:
                segs.append(s)
                continue
            xy1 = np.concatenate([s, np.ones((len(s), 1), np.float32)], axis=1) @ M.T.astype(np.float32)
            z = xy1[:, 2:3]
            z = np.where(np.abs(z) < 1e-9, 1e-9, z)
            segs.append(clip_polygon(xy1[:, :2] / z, w, h))
        return Instances(self.cls, segs, masks)

    def filter(self, keep) -> "Instances":
        idx = np.flatnonzero(np.asarray(keep))
        return Instances(self.cls[idx], [self.segments[i] for i in idx], [self.masks[i] for i in idx])

    def drop_small(self, min_wh: float = 2.0, min_area_ratio: float = 0.1, before: np.ndarray | None = None,
                   scale: float = 1.0, max_ar: float = 100.0) -> "Instances":
        """Remove objects that became (nearly) invisible: box side < ``min_wh`` px, aspect ratio above
        ``max_ar``, or area below ``min_area_ratio`` of the pre-transform area (``before``, scaled by
        ``scale``², i.e. mostly cut off by the frame)."""
        if not len(self):
            return self
        b = self.boxes()
        bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        ar = np.maximum(bw / (bh + 1e-16), bh / (bw + 1e-16))
        keep = (bw >= min_wh) & (bh >= min_wh) & (ar < max_ar)
        if before is not None:
            keep &= self.areas() >= min_area_ratio * before * scale * scale
        return self.filter(keep)

    @staticmethod
    def concat(items: list["Instances"]) -> "Instances":
        items = [i for i in items if len(i)]
        if not items:
            return Instances(np.zeros(0, np.int64), [], [])
        return Instances(np.concatenate([i.cls for i in items]), [s for i in items for s in i.segments],
                         [m for i in items for m in i.masks])


def to_pixel_centres(M: np.ndarray) -> np.ndarray:
    """Matrix for OpenCV's raster warps. Polygons use continuous coordinates (pixel ``i`` spans
    ``[i, i+1]``); ``cv2.warp*`` puts pixel ``i`` at ``i``. Without this shift a flip or scale would
    move raster masks and images up to a pixel away from their polygons."""
    return translate(-0.5, -0.5) @ M @ translate(0.5, 0.5)


def translate(dx: float, dy: float) -> np.ndarray:
    M = np.eye(3, dtype=np.float64)
    M[0, 2], M[1, 2] = dx, dy
    return M


def scale(sx: float, sy: float | None = None) -> np.ndarray:
    return np.diag([sx, sx if sy is None else sy, 1.0])
