"""Mask targets: polygons (and raster RLE masks) → the ``masks`` entry of the training batch.

Why rasterise at the target resolution with sub-pixel vertices: the loss compares prototypes at
1/``mask_ratio`` of the input; drawing the polygon directly at that size (OpenCV ``shift`` for
fractional coordinates, pixel-centre convention) avoids a full-size draw plus resize per object.
With ``overlap=True`` one index map per image is produced: objects are drawn from the largest to
the smallest area so small objects stay visible on top, and the value of object ``i`` (its order in
the sample) is ``i + 1`` — exactly the contract in docs/contracts.md.
"""
from __future__ import annotations

import cv2
import numpy as np

from .instances import Instances

_SHIFT = 4  # fractional bits for cv2.fillPoly vertex coordinates


def decode_rle(rle: dict, h: int, w: int) -> np.ndarray:
    """COCO RLE (compressed string or uncompressed ``counts`` list) → uint8 (h, w) mask."""
    from pycocotools import mask as mask_utils

    size = list(rle.get("size") or (h, w))
    counts = rle["counts"]
    if isinstance(counts, list):
        rle = mask_utils.frPyObjects({"size": size, "counts": counts}, size[0], size[1])
    else:
        rle = {"size": size, "counts": counts.encode() if isinstance(counts, str) else counts}
    m = mask_utils.decode(rle).astype(np.uint8)
    if m.shape != (h, w):
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)
    return m


def polygon_mask(poly: np.ndarray, h: int, w: int, ratio: int = 1) -> np.ndarray:
    """Binary uint8 (h // ratio, w // ratio) mask of one polygon given in full-size pixel coordinates."""
    out = np.zeros((h // ratio, w // ratio), np.uint8)
    if len(poly) >= 3:
        pts = np.round((poly / ratio - 0.5) * (1 << _SHIFT)).astype(np.int32)
        cv2.fillPoly(out, [pts], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return out


def instance_masks(inst: Instances, h: int, w: int, ratio: int = 1) -> np.ndarray:
    """One binary mask per object: uint8 (n, h // ratio, w // ratio)."""
    hr, wr = h // ratio, w // ratio
    out = np.zeros((len(inst), hr, wr), np.uint8)
    for i, (s, m) in enumerate(zip(inst.segments, inst.masks)):
        if m is not None:
            mm = m if ratio == 1 else cv2.resize(m.astype(np.float32), (wr, hr), interpolation=cv2.INTER_AREA)
            out[i] = mm >= 0.5
        else:
            out[i] = polygon_mask(s, h, w, ratio)
    return out


def overlap_mask(inst: Instances, h: int, w: int, ratio: int = 1) -> np.ndarray:
    """Index map (h // ratio, w // ratio): 0 background, ``i + 1`` where object ``i`` is on top.
    Larger objects are drawn first so smaller ones are never hidden. uint8 up to 255 objects,
    else int32."""
    per = instance_masks(inst, h, w, ratio)
    dtype = np.uint8 if len(inst) < 256 else np.int32
    out = np.zeros(per.shape[1:], dtype)
    if not len(inst):
        return out
    for i in np.argsort(-per.reshape(len(per), -1).sum(1), kind="stable"):
        out[per[i].astype(bool)] = i + 1
    return out


def mask_targets(inst: Instances, h: int, w: int, ratio: int, overlap: bool) -> np.ndarray:
    """The per-image mask target: ``(h/r, w/r)`` index map with ``overlap`` else ``(n, h/r, w/r)``."""
    return overlap_mask(inst, h, w, ratio) if overlap else instance_masks(inst, h, w, ratio)
