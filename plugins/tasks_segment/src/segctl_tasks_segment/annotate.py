"""Drawing primitives for prediction images (OpenCV, BGR uint8 in place).

Why its own palette: colours are derived from the class id by golden-ratio hue stepping, so
neighbouring ids get well-separated hues and the same class has the same colour everywhere.
"""
from __future__ import annotations

import colorsys

import cv2
import numpy as np


def color(i: int, bgr: bool = True) -> tuple:
    """A stable, saturated colour for class/instance ``i`` (0..255 ints)."""
    h = (int(i) * 0.618033988749895 + 0.07) % 1.0
    r, g, b = (int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, 0.78, 0.98))
    return (b, g, r) if bgr else (r, g, b)


def default_line_width(shape) -> int:
    """About 0.3 % of the image's mean side, at least 2 px."""
    return max(round((shape[0] + shape[1]) / 2 * 0.003), 2)


def draw_masks(img: np.ndarray, masks: np.ndarray, colors, alpha: float = 0.5) -> np.ndarray:
    """Blend binary ``masks [n, H, W]`` into ``img`` with one colour each; later masks on top.

    One pass over pixels (no per-mask blending), so the cost does not grow with n beyond the
    ``argmax`` that finds each pixel's top-most mask.
    """
    if masks is None or len(masks) == 0:
        return img
    masks = np.asarray(masks).astype(bool)
    covered = masks.any(0)
    top = len(masks) - 1 - np.argmax(masks[::-1], axis=0)
    palette = np.asarray(colors, dtype=np.float32).reshape(-1, 3)
    region = img[covered].astype(np.float32)
    img[covered] = (region * (1 - alpha) + palette[top[covered]] * alpha).round().clip(0, 255).astype(np.uint8)
    return img


def draw_box_label(img: np.ndarray, box, label: str = "", col=(0, 0, 255), lw: int = 2) -> np.ndarray:
    """Rectangle plus a filled label tag above it (inside the image when the box touches the top)."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box[:4])
    cv2.rectangle(img, (x1, y1), (x2, y2), col, thickness=lw, lineType=cv2.LINE_AA)
    if label:
        scale = max(0.3, min(lw / 3, min(img.shape[:2]) / 400))  # readable, never dwarfing a small image
        thick = max(lw - 1, 1)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        above = y1 - th - base - 3 >= 0
        x1 = max(0, min(x1, img.shape[1] - tw - 2))  # keep the tag on the image at the right edge
        ty1 = y1 - th - base - 3 if above else y1
        ty2 = y1 if above else y1 + th + base + 3
        cv2.rectangle(img, (x1, ty1), (x1 + tw + 2, ty2), col, -1, cv2.LINE_AA)
        txt = (255, 255, 255) if sum(col) < 3 * 160 else (0, 0, 0)
        cv2.putText(img, label, (x1 + 1, ty2 - base - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, txt, thick, cv2.LINE_AA)
    return img
