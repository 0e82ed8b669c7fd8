"""Synthetic detection sequences for tracker tests: objects moving on straight lines, as a perfect
detector would see them (optionally hidden on some frames, with their masks)."""
from __future__ import annotations

import numpy as np


def disc_mask(h, w, cx, cy, r):
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def bar_mask(h, w, cx, cy, r, slope):
    """A thick diagonal bar ('/' for slope -1, '\\' for slope +1) inside the box of side 2r."""
    yy, xx = np.mgrid[:h, :w]
    inside = (abs(xx - cx) <= r) & (abs(yy - cy) <= r)
    return inside & (abs((yy - cy) - slope * (xx - cx)) <= r * 0.25)


def sequence(objects, n_frames, hidden=None, size=(240, 320), masks=None):
    """``objects``: list of (x0, y0, vx, vy, r, cls). ``hidden``: {object index: set of frames}.
    Yields per frame ``(boxes, scores, classes, masks|None, gt_ids)`` (gt id = object index + 1);
    object order is shuffled each frame so trackers cannot rely on it."""
    rng = np.random.default_rng(0)
    h, w = size
    for f in range(n_frames):
        rows = []
        for k, (x0, y0, vx, vy, r, cls) in enumerate(objects):
            if hidden and f in hidden.get(k, ()):
                continue
            cx, cy = x0 + vx * f, y0 + vy * f
            if cx + r < 0 or cy + r < 0 or cx - r > w or cy - r > h:
                continue
            rows.append((k, cx, cy, r, cls))
        rng.shuffle(rows)
        boxes = np.array([[cx - r, cy - r, cx + r, cy + r] for _, cx, cy, r, _ in rows]).reshape(-1, 4)
        scores = np.full(len(rows), 0.9)
        classes = np.array([c for *_, c in rows])
        m = None
        if masks is not None:
            m = np.array([masks(k, h, w, cx, cy, r) for k, cx, cy, r, _ in rows]).reshape(-1, h, w)
        yield boxes, scores, classes, m, [k + 1 for k, *_ in rows]


def run(tracker, seq):
    """Feed ``seq`` to ``tracker``; returns per frame {gt id: track id} for the matched rows."""
    out = []
    for boxes, scores, classes, masks, gt in seq:
        rows = tracker.update(boxes, scores, classes, masks)
        out.append({gt[int(r[7])]: int(r[4]) for r in rows})
    return out
