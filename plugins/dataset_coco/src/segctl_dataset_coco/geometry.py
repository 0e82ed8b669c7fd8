"""COCO segmentation geometry: polygon parts, RLE (compressed and not), and one-polygon outlines.

Why both a polygon and an RLE per instance: tasks that rasterise polygons need exactly one polygon
per instance (the YOLO contract), but a COCO instance may have several polygon parts or be an RLE
with holes, which no single simple polygon reproduces. So every instance gets ``segment``: all its
parts (and holes) joined into one polygon by zero-width bridge cuts, and, when that polygon is not
the exact shape, ``rle``: the exact mask as a compressed COCO RLE (``counts`` a ``str``, JSON-safe).

Bridge cut: walk from the polygon built so far to the nearest vertex of the next part, around that
part, and back along the same segment. Holes traced by ``cv2.findContours`` run opposite to outer
outlines, so the joined polygon leaves them empty when filled (even-odd or non-zero rule).
"""
from __future__ import annotations

import warnings

import cv2
import numpy as np
from pycocotools import mask as mask_utils


def bridge_join(parts: list[np.ndarray]) -> np.ndarray:
    """Join (k_i, 2) vertex arrays into one (k, 2) float64 polygon; ``parts[0]`` is the start."""
    poly = np.asarray(parts[0], np.float64)
    rest = [np.asarray(p, np.float64) for p in parts[1:]]
    while rest:
        best = None
        for k, c in enumerate(rest):
            # nearest vertex pair, in row blocks of <= 1M distances: memory stays a few MB whatever
            # the vertex counts (a whole matrix of two 20 000-point parts would be 3 GB)
            step = max(1, (1 << 20) // max(len(c), 1))
            for r in range(0, len(poly), step):
                d = ((poly[r:r + step, None, :] - c[None, :, :]) ** 2).sum(-1)
                i, j = np.unravel_index(int(d.argmin()), d.shape)
                if best is None or d[i, j] < best[0]:
                    best = (d[i, j], k, r + i, j)
        _, k, i, j = best
        c = rest.pop(k)
        poly = np.concatenate([poly[: i + 1], c[j:], c[: j + 1], poly[i:]])
    return poly


def polygon_area(xy: np.ndarray) -> float:
    """Absolute shoelace area of a (k, 2) polygon."""
    x, y = xy[:, 0], xy[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def rle_from_segmentation(seg, h: int, w: int) -> dict:
    """Exact mask of a COCO ``segmentation`` (polygon list, compressed or uncompressed RLE) as a
    compressed RLE dict ``{"size": [h, w], "counts": str}``."""
    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    elif isinstance(seg.get("counts"), list):
        rle = mask_utils.frPyObjects(seg, h, w)
    else:
        counts = seg["counts"]
        rle = {"size": [int(v) for v in seg["size"]],
               "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def decode(rle: dict) -> np.ndarray:
    """uint8 (h, w) mask of a compressed RLE dict (``counts`` str or bytes)."""
    counts = rle["counts"]
    with warnings.catch_warnings():  # pycocotools' own numpy-2 DeprecationWarning, not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode({"size": list(rle["size"]),
                                  "counts": counts.encode("ascii") if isinstance(counts, str) else counts})


def mask_outline(mask: np.ndarray, min_area: float = 2.0):
    """One polygon (pixel coordinates, (k, 2) float64) for a binary mask: every outer outline and
    every hole, bridge-joined, largest outline first. ``None`` for an empty mask.

    Also returns ``has_holes`` so callers can tell a converter the polygon is approximate."""
    cs, hier = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hier is None:
        return None, False
    outers, holes = [], []
    for c, h in zip(cs, hier[0]):
        area = abs(cv2.contourArea(c))
        if area < min_area or len(c) < 3:
            continue
        (holes if h[3] >= 0 else outers).append((area, c.reshape(-1, 2)))
    if not outers:
        return None, False
    outers.sort(key=lambda t: -t[0])
    return bridge_join([c for _, c in outers] + [c for _, c in holes]), bool(holes)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two binary masks (1.0 when both are empty)."""
    a, b = a.astype(bool), b.astype(bool)
    union = int((a | b).sum())
    return 1.0 if union == 0 else float((a & b).sum()) / union


def rasterize(poly_norm: np.ndarray, h: int, w: int) -> np.ndarray:
    """Fill a normalised polygon into an (h, w) uint8 mask the way YOLO-style loaders do
    (``cv2.fillPoly`` on ``x * w, y * h``)."""
    m = np.zeros((h, w), np.uint8)
    pts = np.round(np.asarray(poly_norm, np.float64) * [w, h]).astype(np.int32)
    cv2.fillPoly(m, [pts.reshape(-1, 1, 2)], 1)
    return m
