"""Fills and backgrounds: the appearance of the synthetic images.

Why textures at all: a model that only ever sees flat colours learns colour, not shape. Mixing
solid, striped, noisy and gradient fills on objects *and* backgrounds (plus thin lines and soft
blobs as distractors) forces it to use outlines, while staying clean enough to learn in a few
epochs. All randomness comes from the ``rng`` passed in, so images are reproducible.
Arrays are float32 BGR in 0..255 (cv2 order, written with ``cv2.imencode``).
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def random_color(rng: np.random.Generator, sat=(0.45, 1.0), val=(0.35, 1.0)) -> np.ndarray:
    """A BGR colour from HSV ranges (saturated by default so objects stand out)."""
    hsv = np.uint8([[[rng.integers(0, 180), int(255 * rng.uniform(*sat)), int(255 * rng.uniform(*val))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _ramp(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A 0..1 linear ramp across an (h, w) box in a random direction."""
    a = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xx * math.cos(a) + yy * math.sin(a)
    t -= t.min()
    return t / max(float(t.max()), 1.0)


def _stripes(rng: np.random.Generator, h: int, w: int, period=(6, 18)) -> np.ndarray:
    """A 0/1 square-wave stripe pattern at a random angle and period."""
    a = rng.uniform(0, math.pi)
    p = rng.uniform(*period)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * math.cos(a) + yy * math.sin(a)) / p
    return ((t - np.floor(t)) < 0.5).astype(np.float32)


def _lowfreq(rng: np.random.Generator, h: int, w: int, cells: int = 4) -> np.ndarray:
    """Smooth 0..1 noise: a small random grid upsampled with cubic interpolation (cheap Perlin)."""
    g = rng.random((cells, cells)).astype(np.float32)
    return np.clip(cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1)


def _mix(t: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    return c0 + t[..., None] * (c1 - c0)


def fill(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An object texture of size (h, w, 3): solid, stripes, noise or gradient."""
    kind = rng.choice(4, p=[0.4, 0.2, 0.2, 0.2])
    c0 = random_color(rng)
    if kind == 0:
        out = np.broadcast_to(c0, (h, w, 3)).copy()
    elif kind == 1:
        c1 = np.clip(c0 * rng.uniform(0.4, 0.7) + rng.uniform(-40, 40, 3), 0, 255).astype(np.float32)
        out = _mix(_stripes(rng, h, w), c0, c1)
    elif kind == 2:
        out = _mix(_lowfreq(rng, h, w, 3), c0 * 0.7, np.minimum(c0 * 1.3, 255))
        out += 8 * rng.standard_normal((h, w, 1), dtype=np.float32)
    else:
        out = _mix(_ramp(rng, h, w), c0, random_color(rng))
    return out


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A full-image background: gradient, smooth noise or soft stripes, with grain and distractors
    (thin lines and blurred blobs that are *not* objects and carry no label)."""
    kind = rng.integers(0, 3)
    c0 = random_color(rng, sat=(0.1, 0.7), val=(0.3, 0.95))
    c1 = random_color(rng, sat=(0.1, 0.7), val=(0.3, 0.95))
    if kind == 0:
        img = _mix(_ramp(rng, h, w), c0, c1)
    elif kind == 1:
        img = _mix(_lowfreq(rng, h, w, int(rng.integers(3, 7))), c0, c1)
    else:
        s = cv2.GaussianBlur(_stripes(rng, h, w, period=(14, 40)), (0, 0), 2.0)
        img = _mix(s * 0.6 + 0.2, c0, c1)
    img += 6 * rng.standard_normal((h, w, 1), dtype=np.float32)
    for _ in range(int(rng.integers(0, 4))):  # thin lines
        p0 = tuple(int(v) for v in rng.integers(0, (w, h)))
        p1 = tuple(int(v) for v in rng.integers(0, (w, h)))
        cv2.line(img, p0, p1, tuple(float(v) for v in random_color(rng)), int(rng.integers(1, 3)), cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 3))):  # soft blobs: heavily blurred, so they have no crisp outline
        # drawn and blurred at quarter resolution, then upsampled: same look, 16x cheaper
        q = np.zeros((max(h // 4, 1), max(w // 4, 1)), np.float32)
        c = tuple(int(v) // 4 for v in rng.integers(0, (w, h)))
        cv2.circle(q, c, max(1, int(rng.integers(h // 16, h // 6)) // 4), 1.0, -1)
        q = cv2.GaussianBlur(q, (0, 0), max(h / 100, 0.5)) * rng.uniform(0.3, 0.6)
        blob = cv2.resize(q, (w, h), interpolation=cv2.INTER_LINEAR)
        img = img + blob[..., None] * (random_color(rng) - img)
    return img
