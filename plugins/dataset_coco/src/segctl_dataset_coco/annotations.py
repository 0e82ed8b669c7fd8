"""One COCO annotation → one instance of a segctl record (class, box, polygon, exact mask, crowd).

Why a policy per problem instead of failing: real COCO files contain odd rows (coordinates a
fraction of a pixel outside the image, degenerate polygon parts, missing boxes). Each is handled
the same way the YOLO format handles its rows and reported as an :class:`~segctl.data.Issue`:

* coordinates within ``max(2 px, 1 %)`` outside the image are clipped (issue ``clipped`` when more
  than half a pixel); further out, NaN/inf, or a polygon part with < 3 points or no area: the
  part is dropped (the row, if no part is left: ``dropped-row``);
* an unknown ``category_id`` or a missing segmentation (``task="segment"``) drops the row;
* an RLE whose ``size`` is not the image size drops the row.
"""
from __future__ import annotations

import math

import numpy as np

from .geometry import bridge_join, decode, mask_outline, polygon_area, rle_from_segmentation


MAX_PARTS = 1_000      # polygon parts of one annotation
MAX_POINTS = 20_000    # vertices of one annotation, all parts together (the bridge join is quadratic)


class Rejected(Exception):
    """The annotation cannot be used; the message is the issue reason."""


def _clip_parts(seg: list, w: int, h: int, notes: list[str]) -> list[np.ndarray]:
    tol_x, tol_y = max(2.0, 0.01 * w), max(2.0, 0.01 * h)
    parts = []
    if len(seg) > MAX_PARTS:
        raise Rejected(f"{len(seg)} polygon parts (limit {MAX_PARTS})")
    total = sum(len(flat) for flat in seg if isinstance(flat, (list, tuple))) // 2
    if total > MAX_POINTS:
        raise Rejected(f"polygon with {total} points (limit {MAX_POINTS})")
    for k, flat in enumerate(seg):
        if not isinstance(flat, (list, tuple)) or len(flat) < 6 or len(flat) % 2:
            notes.append(f"polygon part {k} has {len(flat) if isinstance(flat, (list, tuple)) else '?'} values "
                         f"(needs an even number >= 6): part dropped")
            continue
        try:
            xy = np.asarray(flat, np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            notes.append(f"polygon part {k} has non-numeric values: part dropped")
            continue
        if not np.isfinite(xy).all():
            notes.append(f"polygon part {k} has NaN/inf coordinates: part dropped")
            continue
        over_x = max(-xy[:, 0].min(), xy[:, 0].max() - w, 0.0)
        over_y = max(-xy[:, 1].min(), xy[:, 1].max() - h, 0.0)
        if over_x > tol_x or over_y > tol_y:
            notes.append(f"polygon part {k} lies {max(over_x, over_y):.1f} px outside the {w}x{h} image: part dropped")
            continue
        if max(over_x, over_y) > 0.5:
            notes.append(f"clipped: polygon part {k} was {max(over_x, over_y):.1f} px outside the image")
        xy = np.clip(xy, 0, [w, h])
        if polygon_area(xy) <= 0.0:
            notes.append(f"polygon part {k} has zero area: part dropped")
            continue
        parts.append(xy)
    return parts


def _box(ann: dict, w: int, h: int):
    b = ann.get("bbox")
    if isinstance(b, (list, tuple)) and len(b) == 4:
        try:
            x, y, bw, bh = (float(v) for v in b)
        except (TypeError, ValueError):
            return None
        if all(math.isfinite(v) for v in (x, y, bw, bh)) and bw > 0 and bh > 0:
            x0, y0 = min(max(x, 0.0), w), min(max(y, 0.0), h)
            x1, y1 = min(max(x + bw, 0.0), w), min(max(y + bh, 0.0), h)
            if x1 > x0 and y1 > y0:
                return np.array([(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h])
    return None


def _box_from_poly(poly_norm: np.ndarray) -> np.ndarray:
    x0, y0 = poly_norm.min(0)
    x1, y1 = poly_norm.max(0)
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0])


def parse(ann: dict, w: int, h: int, cat_index: dict[int, int], task: str = "segment"):
    """Return ``(instance, notes)``; ``instance`` is a dict ``cls, bbox (cx cy w h normalised),
    segment ((k, 2) float32 normalised), rle (dict | None), iscrowd (bool)``. Raises
    :class:`Rejected` when the row cannot be used. ``notes`` are non-fatal observations."""
    notes: list[str] = []
    cid = ann.get("category_id")
    if cid not in cat_index:
        raise Rejected(f"unknown category_id {cid!r}")
    crowd = bool(ann.get("iscrowd", 0))
    seg = ann.get("segmentation")
    rle = None
    poly = None
    if isinstance(seg, list) and seg and not isinstance(seg[0], (int, float)):
        parts = _clip_parts(seg, w, h, notes)
        if not parts:
            if task == "segment":
                raise Rejected("no usable polygon part (" + "; ".join(notes) + ")")
        else:
            parts.sort(key=lambda p: -polygon_area(p))
            poly = bridge_join(parts)
            if len(parts) > 1:  # the joined polygon has bridges: keep the exact union as RLE
                rle = rle_from_segmentation([p.reshape(-1).tolist() for p in parts], h, w)
    elif isinstance(seg, dict) and "counts" in seg and "size" in seg:
        size = seg["size"]
        if not (isinstance(size, (list, tuple)) and len(size) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
            raise Rejected(f"RLE size {size!r} must be [height, width] integers")
        if not isinstance(seg["counts"], (str, list)):
            raise Rejected(f"RLE counts must be a string or a list, got {type(seg['counts']).__name__}")
        if isinstance(seg["counts"], list) and len(seg["counts"]) > 2 * h * w + 2:
            raise Rejected(f"RLE counts has {len(seg['counts'])} runs for a {w}x{h} image")
        if list(size) != [h, w]:
            raise Rejected(f"RLE size {seg['size']} is not the image size [{h}, {w}]")
        try:
            rle = rle_from_segmentation(seg, h, w)
            mask = decode(rle)
        except Exception as e:  # pycocotools raises bare Exception/TypeError for malformed counts
            raise Rejected(f"RLE cannot be decoded: {type(e).__name__}: {e}") from e
        poly, _ = mask_outline(mask)
        if poly is None and task == "segment":
            raise Rejected("RLE mask is empty")
    elif task == "segment":
        raise Rejected("no segmentation (polygon or RLE) for a segment dataset")
    seg_norm = (poly / [w, h]).astype(np.float32) if poly is not None else None
    box = _box(ann, w, h)
    if box is None:
        if seg_norm is None:
            raise Rejected(f"no valid bbox and no segmentation (bbox={ann.get('bbox')!r})")
        box = _box_from_poly(seg_norm)
    if seg_norm is None:  # detect task without segmentation: the box outline stands in
        cx, cy, bw, bh = box
        seg_norm = np.array([[cx - bw / 2, cy - bh / 2], [cx + bw / 2, cy - bh / 2],
                             [cx + bw / 2, cy + bh / 2], [cx - bw / 2, cy + bh / 2]], np.float32)
    return {"cls": cat_index[cid], "bbox": box.astype(np.float32), "segment": np.clip(seg_norm, 0, 1),
            "rle": rle, "iscrowd": crowd}, notes
