"""A moving-shapes video with ground truth for tracking: ids, boxes, visibility (MOT format).

Why: a tracker is only as good as its measured ID switches, and measuring needs a video whose true
identities are known. Objects of the shapes classes (so a model trained on ``shapes-seg`` sees
them) move on straight lines, bounce off the top and bottom, enter and leave at the sides, pass
in front of each other (painting order is depth order), while the camera pans (``pan`` px per
frame) and shakes (``shake``: a jitter of up to twice that many pixels between frames) over a wider
background. Deterministic: the same ``seed`` gives the same frames and labels.

Written under ``out_dir``::

    <name>.mp4                 the video (mp4v)
    img1/000001.jpg ...        the same frames as images (MOTChallenge layout; ``frames=True``)
    gt/gt.txt                  frame, id, left, top, width, height, 1, class, visibility
    masks.npz                  visible masks: ``f<frame>_id<id>`` -> packed bits (``masks=True``)

A ground-truth row exists when at least 20 % of the object (and 20 px) is visible in the frame;
its box is the box of the visible part, as the dataset's labels are.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .draw import CLASSES, shape_mask
from .paint import background, fill

MIN_VISIBLE, MIN_PIXELS = 0.2, 20


def _objects(rng, n: int, size: int, world_w: int, n_frames: int) -> list[dict]:
    objs = []
    for k in range(n):
        r = float(rng.uniform(0.09, 0.15) * size)
        speed = rng.uniform(1.5, 4.0)
        ang = rng.uniform(-0.6, 0.6) + (np.pi if k % 2 else 0.0)  # half go left, half go right
        vx, vy = speed * np.cos(ang), speed * np.sin(ang)
        if k % 3 == 2:  # enters from outside the world, later in the video
            x0 = -r - 5 if vx > 0 else world_w + r + 5
            t0 = int(rng.integers(0, max(n_frames // 2, 1)))
        else:
            x0, t0 = float(rng.uniform(r, world_w - r)), 0
        objs.append({"id": k + 1, "cls": int(rng.integers(0, len(CLASSES))), "r": r,
                     "x0": x0, "y0": float(rng.uniform(r, size - r)), "vx": vx, "vy": vy, "t0": t0,
                     "seed": int(rng.integers(1 << 31))})
    return objs


def _position(o: dict, t: int, size: int) -> tuple[float, float] | None:
    if t < o["t0"]:
        return None
    dt = t - o["t0"]
    x = o["x0"] + o["vx"] * dt
    lo, hi = o["r"], size - o["r"]
    y = o["y0"] + o["vy"] * dt - lo  # bounce between lo and hi
    period = 2 * (hi - lo)
    y = y % period
    y = (y if y <= hi - lo else period - y) + lo
    return x, y


def make_tracking_video(out_dir, *, n_frames: int = 150, size: int = 320, n_objects: int = 8,
                        pan: float = 1.0, shake: float = 0.0, fps: float = 25.0, seed: int = 0, name: str = "shapes-track",
                        frames: bool = True, masks: bool = False) -> dict:
    """Write the video and its ground truth; returns ``{"video", "frames", "gt", "masks"}`` paths."""
    out = Path(out_dir)
    (out / "gt").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 7])
    world_w = int(size + abs(pan) * n_frames + 2 * abs(shake) + 1)
    bg = background(rng, size, world_w)
    objs = _objects(rng, n_objects, size, world_w, n_frames)
    full_area = {o["id"]: int(shape_mask(o["cls"], int(4 * o["r"]), int(4 * o["r"]), 2 * o["r"], 2 * o["r"], o["r"],
                                         np.random.default_rng(o["seed"])).sum()) for o in objs}
    video = out / f"{name}.mp4"
    vw = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    if frames:
        (out / "img1").mkdir(exist_ok=True)
    rows, packed = [], {}
    try:
        for t in range(n_frames):
            cam = int(round(abs(pan) * t)) if pan >= 0 else int(round(abs(pan) * (n_frames - 1 - t)))
            cam += int(round(abs(shake) * (1 + np.sin(1.3 * t))))  # a shaking camera: jumps of up to 2*shake px
            img = bg[:, cam:cam + size].copy()
            drawn = []
            for o in objs:
                p = _position(o, t, size)
                if p is None:
                    continue
                cx, cy = p[0] - cam, p[1]
                if cx < -2 * o["r"] or cx > size + 2 * o["r"]:
                    continue
                m = shape_mask(o["cls"], size, size, cx, cy, o["r"], np.random.default_rng(o["seed"]))
                if not m.any():
                    continue
                x, y, w, h = cv2.boundingRect(m)
                tex = fill(np.random.default_rng(o["seed"] + 1), int(4 * o["r"]) + 2, int(4 * o["r"]) + 2)
                ox, oy = int(round(cx - 2 * o["r"])), int(round(cy - 2 * o["r"]))
                sub = m[y:y + h, x:x + w].astype(bool)
                tpatch = tex[max(y - oy, 0):max(y - oy, 0) + h, max(x - ox, 0):max(x - ox, 0) + w]
                if tpatch.shape[:2] == sub.shape:
                    img[y:y + h, x:x + w][sub] = tpatch[sub]
                else:
                    img[m.astype(bool)] = tex[0, 0]
                drawn.append((o, m.astype(bool)))
            covered = np.zeros((size, size), bool)
            for o, m in reversed(drawn):
                vis = m & ~covered
                covered |= m
                area = int(vis.sum())
                if area < MIN_PIXELS or area < MIN_VISIBLE * full_area[o["id"]]:
                    continue
                x, y, w, h = cv2.boundingRect(vis.astype(np.uint8))
                rows.append((t + 1, o["id"], x, y, w, h, 1, o["cls"], round(min(area / full_area[o["id"]], 1.0), 3)))
                if masks:
                    packed[f"f{t + 1}_id{o['id']}"] = np.packbits(vis)
            frame = np.clip(img, 0, 255).astype(np.uint8)
            vw.write(frame)
            if frames:
                cv2.imwrite(str(out / "img1" / f"{t + 1:06d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    finally:
        vw.release()
    rows.sort(key=lambda r: (r[0], r[1]))
    gt = out / "gt" / "gt.txt"
    gt.write_text("".join(",".join(str(v) for v in r) + "\n" for r in rows))
    mpath = None
    if masks:
        mpath = out / "masks.npz"
        np.savez_compressed(mpath, shape=np.array([size, size]), **packed)
    return {"video": str(video), "frames": str(out / "img1") if frames else None, "gt": str(gt),
            "masks": str(mpath) if mpath else None}
