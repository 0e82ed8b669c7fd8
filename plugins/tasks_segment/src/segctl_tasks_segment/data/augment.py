"""Training augmentations on (image, :class:`Instances`) pairs: letterbox, mosaic, random
perspective, HSV, flips, segment copy-paste and mixup.

Why pairs and matrices: every geometric step builds one 3x3 matrix and applies it to the image and
to the instances together (see :mod:`.instances`), so masks rasterised later always match the pixels.
Randomness comes from ``rng`` (defaults to the global ``numpy.random`` state, which DataLoader
workers seed and a resumed trainer restores). Images are HWC uint8 BGR (OpenCV order) until collate.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .instances import Instances, scale, to_pixel_centres, translate

PAD_VALUE = 114
DEFAULT_HYP = {"hsv_h": 0.015, "hsv_s": 0.7, "hsv_v": 0.4, "degrees": 0.0, "translate": 0.1, "scale": 0.5,
               "shear": 0.0, "perspective": 0.0, "flipud": 0.0, "fliplr": 0.5, "mosaic": 1.0, "mixup": 0.0,
               "copy_paste": 0.0}


def _rng(rng):
    return np.random if rng is None else rng


def letterbox(img: np.ndarray, new_shape, *, auto: bool = False, scaleup: bool = True, stride: int = 32,
              center: bool = True):
    """Resize keeping the aspect ratio and pad to ``new_shape`` (h, w) (or to a stride multiple with
    ``auto``). Returns ``(img, gain, (pad_left, pad_top), M)`` with ``M`` the 3x3 matrix for instances."""
    if isinstance(new_shape, int):
        new_shape = (new_shape, new_shape)
    h0, w0 = img.shape[:2]
    r = min(new_shape[0] / h0, new_shape[1] / w0)
    if not scaleup:
        r = min(r, 1.0)
    nw, nh = int(round(w0 * r)), int(round(h0 * r))
    dw, dh = new_shape[1] - nw, new_shape[0] - nh
    if auto:
        dw, dh = dw % stride, dh % stride
    if center:
        left, top = int(round(dw / 2 - 0.1)), int(round(dh / 2 - 0.1))
    else:
        left, top = 0, 0
    right, bottom = dw - left, dh - top
    if (nw, nh) != (w0, h0):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    if dw or dh:
        img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                 value=(PAD_VALUE,) * 3)
    M = translate(left, top) @ scale(nw / w0, nh / h0)
    return img, r, (left, top), M


def letterbox_image(im: np.ndarray, imgsz, stride: int, auto: bool = False):
    """One BGR image letterboxed for inference: ``(uint8 [H,W,3], ratio_pad)`` with ``ratio_pad`` in
    the batch contract's layout. The predictor's ``preprocess`` uses it, and so do a runner's decode
    tasks, which hold no model (and import no torch: this module needs only OpenCV and NumPy)."""
    lb, r, (left, top), _ = letterbox(im, imgsz, auto=auto, stride=stride)
    return lb, ((r, r), (float(left), float(top)))


def augment_hsv(img: np.ndarray, hgain: float, sgain: float, vgain: float, rng=None) -> np.ndarray:
    """Random hue shift and saturation/value gains through per-channel lookup tables (in place)."""
    if not (hgain or sgain or vgain):
        return img
    rng = _rng(rng)
    dh = rng.uniform(-hgain, hgain) * 180.0
    gs, gv = 1 + rng.uniform(-sgain, sgain), 1 + rng.uniform(-vgain, vgain)
    hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=np.float32)
    lut_h = np.mod(x + dh, 180).astype(np.uint8)
    lut_s = np.clip(x * gs, 0, 255).astype(np.uint8)
    lut_v = np.clip(x * gv, 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v)))
    cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR, dst=img)
    return img


def fliplr(img: np.ndarray, inst: Instances):
    w, h = img.shape[1], img.shape[0]
    M = np.array([[-1, 0, w], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    return cv2.flip(img, 1), inst.transform(M, (w, h))


def flipud(img: np.ndarray, inst: Instances):
    w, h = img.shape[1], img.shape[0]
    M = np.array([[1, 0, 0], [0, -1, h], [0, 0, 1]], dtype=np.float64)
    return cv2.flip(img, 0), inst.transform(M, (w, h))


def perspective_matrix(in_size, out_size, *, degrees=0.0, translate_=0.1, scale_=0.5, shear=0.0,
                       perspective=0.0, rng=None):
    """Random matrix mapping an ``in_size`` (w, h) image to ``out_size``: centre → perspective →
    rotate/scale → shear → translate to the output centre ± ``translate_`` of the output size.
    Returns ``(M, s)`` with ``s`` the isotropic scale factor (for area checks)."""
    rng = _rng(rng)
    (wi, hi), (wo, ho) = in_size, out_size
    C = translate(-wi / 2, -hi / 2)
    P = np.eye(3)
    P[2, 0], P[2, 1] = rng.uniform(-perspective, perspective), rng.uniform(-perspective, perspective)
    a = math.radians(rng.uniform(-degrees, degrees))
    s = rng.uniform(1 - scale_, 1 + scale_)
    R = np.array([[s * math.cos(a), -s * math.sin(a), 0], [s * math.sin(a), s * math.cos(a), 0], [0, 0, 1]])
    S = np.eye(3)
    S[0, 1] = math.tan(math.radians(rng.uniform(-shear, shear)))
    S[1, 0] = math.tan(math.radians(rng.uniform(-shear, shear)))
    T = translate(rng.uniform(0.5 - translate_, 0.5 + translate_) * wo,
                  rng.uniform(0.5 - translate_, 0.5 + translate_) * ho)
    return T @ S @ R @ P @ C, s


def random_perspective(img: np.ndarray, inst: Instances, hyp: dict, out_size=None, rng=None):
    """Warp image and instances with one random matrix; drop objects that became tiny or were mostly cut."""
    h, w = img.shape[:2]
    out_size = out_size or (w, h)
    M, s = perspective_matrix((w, h), out_size, degrees=hyp.get("degrees", 0.0),
                              translate_=hyp.get("translate", 0.1), scale_=hyp.get("scale", 0.5),
                              shear=hyp.get("shear", 0.0), perspective=hyp.get("perspective", 0.0), rng=rng)
    border = (PAD_VALUE,) * 3
    Mc = to_pixel_centres(M)
    if hyp.get("perspective", 0.0):
        img = cv2.warpPerspective(img, Mc, out_size, flags=cv2.INTER_LINEAR, borderValue=border)
    else:
        img = cv2.warpAffine(img, Mc[:2], out_size, flags=cv2.INTER_LINEAR, borderValue=border)
    before = inst.areas()
    inst = inst.transform(M, out_size)
    return img, inst.drop_small(before=before, scale=s)


def mosaic(load, indices, size: int, rng=None):
    """Four images around a random centre on a ``2*size`` canvas (``load(i) -> (img, Instances)``
    with the long side already ``size``). Returns the canvas and the clipped instances."""
    rng = _rng(rng)
    s = size
    xc, yc = (int(rng.uniform(s / 2, 3 * s / 2)) for _ in range(2))
    canvas = np.full((2 * s, 2 * s, 3), PAD_VALUE, dtype=np.uint8)
    parts = []
    for k, i in enumerate(indices[:4]):
        img, inst = load(i)
        h, w = img.shape[:2]
        x1 = xc - w if k in (0, 2) else xc
        y1 = yc - h if k in (0, 1) else yc
        cx1, cy1 = max(x1, 0), max(y1, 0)
        cx2, cy2 = min(x1 + w, 2 * s), min(y1 + h, 2 * s)
        if cx2 > cx1 and cy2 > cy1:
            canvas[cy1:cy2, cx1:cx2] = img[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1]
        parts.append(inst.transform(translate(x1, y1), (2 * s, 2 * s)))
    inst = Instances.concat(parts)
    return canvas, inst.drop_small(min_wh=1.0)


def mixup(a, b, rng=None):
    """Blend two (img, Instances) samples of the same size with a Beta(32, 32) ratio; keep all objects."""
    rng = _rng(rng)
    r = rng.beta(32.0, 32.0)
    img = (a[0].astype(np.float32) * r + b[0].astype(np.float32) * (1 - r)).astype(np.uint8)
    return img, Instances.concat([a[1], b[1]])


def _ioa(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over the area of each of ``boxes`` with ``box`` (xyxy)."""
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) + 1e-7
    return iw * ih / area


def copy_paste(img: np.ndarray, inst: Instances, p: float, rng=None):
    """Segment copy-paste: paste horizontally mirrored copies of a random ``p`` share of the polygon
    objects where a copy covers < 30 % of every existing object."""
    if not p or not len(inst):
        return img, inst
    rng = _rng(rng)
    h, w = img.shape[:2]
    flipped = cv2.flip(img, 1)
    boxes = inst.boxes()
    cand = [i for i in range(len(inst)) if inst.masks[i] is None and len(inst.segments[i]) >= 3]
    n = int(round(p * len(cand)))
    if not n:
        return img, inst
    chosen = rng.choice(len(cand), size=n, replace=False)
    paste = np.zeros((h, w), np.uint8)
    new_cls, new_segs = [], []
    for j in chosen:
        i = cand[int(j)]
        seg = inst.segments[i].copy()
        seg[:, 0] = w - seg[:, 0]
        box = np.array([*seg.min(0), *seg.max(0)], np.float32)
        all_boxes = np.concatenate([boxes, np.array(new_segs and [[*s.min(0), *s.max(0)] for s in new_segs],
                                                            np.float32).reshape(-1, 4)])
        if (_ioa(box, all_boxes) < 0.30).all():
            cv2.fillPoly(paste, [np.round(seg).astype(np.int32)], 1)
            new_cls.append(inst.cls[i])
            new_segs.append(seg)
    if new_segs:
        m = paste.astype(bool)
        img = img.copy()
        img[m] = flipped[m]
        inst = Instances.concat([inst, Instances(np.array(new_cls), new_segs)])
    return img, inst
