"""Shape geometry: each class is drawn as a filled binary mask.

Why masks and not polygons: labels must describe what is *visible* after other shapes are painted
on top, and a mask makes occlusion a boolean operation. Polygons for the labels are traced back
from the visible masks (see :mod:`segctl_dataset_shapes.contours`).

The seven classes are chosen to be easy to tell apart at 320 px: ellipses are clearly elongated
(aspect <= 0.65) so they never look like circles, rings have an obvious hole, stars have five
or six sharp points.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

CLASSES = ("circle", "ellipse", "triangle", "rectangle", "star", "hexagon", "ring")


def _regular(cx: float, cy: float, radii, theta: float) -> np.ndarray:
    """Vertices at equal angular steps starting at ``theta`` with the given radii (one per vertex)."""
    n = len(radii)
    ang = theta + np.arange(n) * (2 * math.pi / n)
    pts = np.stack([cx + np.asarray(radii) * np.cos(ang), cy + np.asarray(radii) * np.sin(ang)], 1)
    return np.round(pts).astype(np.int32)


def _fill(mask: np.ndarray, pts: np.ndarray) -> np.ndarray:
    cv2.fillPoly(mask, [pts.reshape(-1, 1, 2)], 1)
    return mask


def shape_mask(cls: int, h: int, w: int, cx: float, cy: float, r: float, rng: np.random.Generator) -> np.ndarray:
    """A uint8 (h, w) mask of class ``cls`` centred at (cx, cy) with size ``r`` (about the
    circumradius in pixels), random rotation and aspect drawn from ``rng``."""
    m = np.zeros((h, w), np.uint8)
    theta = rng.uniform(0, 2 * math.pi)
    c = (int(round(cx)), int(round(cy)))
    name = CLASSES[cls]
    if name == "circle":
        cv2.circle(m, c, int(round(r)), 1, -1)
    elif name == "ellipse":
        axes = (int(round(r)), int(round(r * rng.uniform(0.35, 0.65))))
        cv2.ellipse(m, c, axes, math.degrees(theta), 0, 360, 1, -1)
    elif name == "triangle":
        # jitter the vertex angles a little so triangles are not all equilateral
        ang = theta + np.array([0.0, 2.09, 4.19]) + rng.uniform(-0.3, 0.3, 3)
        pts = np.stack([cx + r * np.cos(ang), cy + r * np.sin(ang)], 1)
        _fill(m, np.round(pts).astype(np.int32))
    elif name == "rectangle":
        rw = 2 * r * rng.uniform(0.6, 0.85)
        rh = rw * rng.uniform(0.4, 1.0)
        pts = cv2.boxPoints(((cx, cy), (rw, rh), math.degrees(theta)))
        _fill(m, np.round(pts).astype(np.int32))
    elif name == "star":
        k = int(rng.integers(5, 7))
        inner = r * rng.uniform(0.4, 0.5)
        _fill(m, _regular(cx, cy, [r, inner] * k, theta))
    elif name == "hexagon":
        _fill(m, _regular(cx, cy, [r] * 6, theta))
    elif name == "ring":
        cv2.circle(m, c, int(round(r)), 1, -1)
        cv2.circle(m, c, max(2, int(round(r * rng.uniform(0.45, 0.65)))), 0, -1)
    else:  # pragma: no cover - CLASSES is closed
        raise ValueError(name)
    return m
