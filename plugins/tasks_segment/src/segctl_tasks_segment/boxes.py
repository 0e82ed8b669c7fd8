"""Box geometry shared by the loss, the assigner, NMS, metrics and Results.

Why one module: every consumer must agree on the same conventions (xyxy in pixels, letterbox
inverse, IoU definitions); keeping them together makes a convention change a one-file edit.
All functions are vectorised and accept any leading batch dimensions.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def xywh2xyxy(x):
    """Centre-format ``(cx, cy, w, h)`` to corner-format ``(x1, y1, x2, y2)`` (torch or numpy)."""
    y = x.clone() if isinstance(x, torch.Tensor) else np.array(x, dtype=np.float32, copy=True)
    half = x[..., 2:4] / 2
    y[..., 0:2] = x[..., 0:2] - half
    y[..., 2:4] = x[..., 0:2] + half
    return y


def xyxy2xywh(x):
    """Corner-format to centre-format ``(cx, cy, w, h)`` (torch or numpy)."""
    y = x.clone() if isinstance(x, torch.Tensor) else np.array(x, dtype=np.float32, copy=True)
    y[..., 0:2] = (x[..., 0:2] + x[..., 2:4]) / 2
    y[..., 2:4] = x[..., 2:4] - x[..., 0:2]
    return y


def box_area(b: torch.Tensor) -> torch.Tensor:
    """Area of xyxy boxes (negative extents count as zero)."""
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Pairwise IoU of xyxy boxes ``a [n,4]`` and ``b [m,4]`` -> ``[n, m]``."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (box_area(a)[:, None] + box_area(b)[None, :] - inter + eps)


def box_ioa(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Pairwise intersection over the area of ``a`` (``[n, m]``).

    Used for crowd regions: a prediction inside a crowd box is covered even though its IoU with
    the (large) crowd box is small, as in the COCO protocol.
    """
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (box_area(a)[:, None] + eps)


def bbox_ciou(b1: torch.Tensor, b2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Element-wise Complete-IoU (Zheng et al. 2020) of xyxy boxes with the same shape ``[..., 4]``.

    CIoU = IoU - centre distance² / enclosing diagonal² - alpha * v, where v penalises aspect-ratio
    mismatch. Returns ``[...]``; gradients flow through all terms except alpha (treated as a weight).
    """
    x1, y1, x2, y2 = b1.unbind(-1)
    X1, Y1, X2, Y2 = b2.unbind(-1)
    w1, h1 = x2 - x1, (y2 - y1).clamp(min=eps)
    w2, h2 = X2 - X1, (Y2 - Y1).clamp(min=eps)
    inter = (torch.minimum(x2, X2) - torch.maximum(x1, X1)).clamp(min=0) * (
        torch.minimum(y2, Y2) - torch.maximum(y1, Y1)
    ).clamp(min=0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.maximum(x2, X2) - torch.minimum(x1, X1)
    ch = torch.maximum(y2, Y2) - torch.minimum(y1, Y1)
    c2 = cw.pow(2) + ch.pow(2) + eps
    rho2 = ((X1 + X2 - x1 - x2).pow(2) + (Y1 + Y2 - y1 - y2).pow(2)) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def dist2bbox(distance: torch.Tensor, anchor_points: torch.Tensor, xywh: bool = False, dim: int = -1):
    """Decode (left, top, right, bottom) distances from anchor points into boxes."""
    lt, rb = distance.chunk(2, dim)
    x1y1 = anchor_points - lt
    x2y2 = anchor_points + rb
    if xywh:
        return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim)
    return torch.cat((x1y1, x2y2), dim)


def bbox2dist(anchor_points: torch.Tensor, bbox: torch.Tensor, reg_max: float) -> torch.Tensor:
    """Encode xyxy boxes as (l, t, r, b) distances, clamped just below ``reg_max`` so the DFL
    target's right bin index stays valid."""
    x1y1, x2y2 = bbox.chunk(2, -1)
    return torch.cat((anchor_points - x1y1, x2y2 - anchor_points), -1).clamp(0, reg_max - 0.01)


def letterbox_params(input_shape, orig_shape, ratio_pad=None):
    """Return ``(gain, pad_w, pad_h)`` of the letterbox mapping ``orig_shape`` -> ``input_shape``.

    ``ratio_pad`` follows the batch contract ``((gain_h, gain_w), (pad_w, pad_h))``; when absent
    the parameters are recomputed the way a centred letterbox makes them (scale to fit, split the
    padding in two, rounding the top/left half down).
    """
    if ratio_pad is not None:
        gain = float(ratio_pad[0][0])
        return gain, float(ratio_pad[1][0]), float(ratio_pad[1][1])
    gain = min(input_shape[0] / orig_shape[0], input_shape[1] / orig_shape[1])
    pad_w = round((input_shape[1] - orig_shape[1] * gain) / 2 - 0.1)
    pad_h = round((input_shape[0] - orig_shape[0] * gain) / 2 - 0.1)
    return gain, float(pad_w), float(pad_h)


def clip_boxes(boxes, shape):
    """Clip xyxy boxes in place to an image of ``shape`` (h, w); returns them."""
    h, w = shape[:2]
    if isinstance(boxes, torch.Tensor):
        boxes[..., 0::2] = boxes[..., 0::2].clamp(0, w)
        boxes[..., 1::2] = boxes[..., 1::2].clamp(0, h)
    else:
        boxes[..., 0::2] = boxes[..., 0::2].clip(0, w)
        boxes[..., 1::2] = boxes[..., 1::2].clip(0, h)
    return boxes


def scale_boxes(input_shape, boxes, orig_shape, ratio_pad=None, clip: bool = True):
    """Map xyxy boxes from the letterboxed ``input_shape`` back to ``orig_shape`` (undo pad, then
    gain). Returns a new array/tensor."""
    gain, pad_w, pad_h = letterbox_params(input_shape, orig_shape, ratio_pad)
    out = boxes.clone() if isinstance(boxes, torch.Tensor) else np.array(boxes, dtype=np.float32, copy=True)
    out[..., 0::2] = (out[..., 0::2] - pad_w) / gain
    out[..., 1::2] = (out[..., 1::2] - pad_h) / gain
    return clip_boxes(out, orig_shape) if clip else out


def scale_coords(input_shape, coords, orig_shape, ratio_pad=None, normalize: bool = False):
    """Map ``(k, 2)`` xy points (polygons) from ``input_shape`` to ``orig_shape``; optionally
    normalise to 0..1 by the original width/height."""
    gain, pad_w, pad_h = letterbox_params(input_shape, orig_shape, ratio_pad)
    out = np.array(coords, dtype=np.float32, copy=True).reshape(-1, 2)
    out[:, 0] = ((out[:, 0] - pad_w) / gain).clip(0, orig_shape[1])
    out[:, 1] = ((out[:, 1] - pad_h) / gain).clip(0, orig_shape[0])
    if normalize:
        out[:, 0] /= orig_shape[1]
        out[:, 1] /= orig_shape[0]
    return out
