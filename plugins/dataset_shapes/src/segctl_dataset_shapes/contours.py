"""From a visible mask to label geometry: polygons for YOLO, polygons or RLE for COCO.

Why bridge cuts: a YOLO label row holds exactly one polygon, but a visible region can be several
pieces (a shape cut in two by an occluder) or have holes (a ring, or a small shape lying on a big
one). We join every piece and every hole into one polygon by walking from the current outline to
the nearest vertex of the next contour, around it, and back along the same zero-width "bridge".
``cv2.findContours`` returns holes with the opposite orientation to outer contours, so the joined
polygon fills the pieces and leaves holes empty under both the even-odd and the non-zero rule
(which is how ``cv2.fillPoly`` rasterises it).

COCO polygons cannot express holes at all (several parts are unioned), so an instance with a hole
is written to COCO JSON as a compressed RLE of its exact mask. The RLE encoder below implements the
published COCO run-length format (column-major runs, starting with background, LEB128-like string
compression with deltas against the run two back) so this plugin needs no pycocotools.
"""
from __future__ import annotations

import cv2
import numpy as np


def mask_contours(mask: np.ndarray, min_area: float = 4.0, eps: float = 0.7):
    """Trace a binary mask. Returns ``(outers, holes)``: lists of int32 (k, 2) arrays, outers sorted
    by area (largest first). Fragments smaller than ``min_area`` px (or 2 % of the largest piece)
    are ignored; outlines are simplified with Douglas-Peucker at ``eps`` px."""
    cs, hier = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hier is None:
        return [], []
    outers, holes = [], []
    for c, h in zip(cs, hier[0]):
        area = abs(cv2.contourArea(c))
        if area < min_area:
            continue
        c = cv2.approxPolyDP(c, eps, True).reshape(-1, 2)
        if len(c) < 3:
            continue
        (holes if h[3] >= 0 else outers).append((area, c))
    outers.sort(key=lambda t: -t[0])
    if outers:
        floor = 0.02 * outers[0][0]
        outers = [t for t in outers if t[0] >= floor]
    return [c for _, c in outers], [c for _, c in holes]


def bridge_join(contours: list[np.ndarray]) -> np.ndarray:
    """Join contours into one polygon with zero-width bridges (see module docstring).

    The first contour is the start; each step attaches the remaining contour whose nearest vertex is
    closest to the polygon built so far, so bridges stay short."""
    poly = np.asarray(contours[0], np.float64)
    rest = [np.asarray(c, np.float64) for c in contours[1:]]
    while rest:
        best = None
        for k, c in enumerate(rest):
            d = ((poly[:, None, :] - c[None, :, :]) ** 2).sum(-1)
            i, j = np.unravel_index(int(d.argmin()), d.shape)
            if best is None or d[i, j] < best[0]:
                best = (d[i, j], k, i, j)
        _, k, i, j = best
        c = rest.pop(k)
        loop = np.concatenate([c[j:], c[: j + 1]])  # around the contour, back to its entry vertex
        poly = np.concatenate([poly[: i + 1], loop, poly[i:]])
    return poly


def rle_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts: run lengths in column-major order, first run is background."""
    flat = np.asarray(mask, np.uint8).reshape(-1, order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        runs = [0] + runs
    return [int(r) for r in runs]


def rle_compress(counts: list[int]) -> str:
    """The COCO compressed-string form of ``counts`` (what pycocotools writes in JSON)."""
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift keeps the sign, as the format requires
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle(mask: np.ndarray, compressed: bool = True) -> dict:
    """A COCO RLE dict for a binary (h, w) mask."""
    counts = rle_counts(mask)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])],
            "counts": rle_compress(counts) if compressed else counts}
