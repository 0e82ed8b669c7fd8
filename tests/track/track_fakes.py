"""Test plugins for track mode, registered through the public hooks as a third party would:

- backend ``blobdet`` (suffix ``.blobdet``): a scripted detector for scenes of flat-coloured discs on
  grey. It runs inside the real predictor (letterbox, scaling, Results) as an end-to-end
  (``nms=True``-style) artifact: red pixels are class 0, blue class 1; each connected component is a
  detection with its mask. Occluded parts are simply not seen, as with a real detector.
- tracker ``centroid``: a deliberately simple third-party tracker (nearest centre within
  ``max_dist`` pixels), to prove trackers are plugins.

Scenes (``scene``): red disc A moving right and blue disc B moving left cross mid-way; a black bar
sweeping the other way hides red disc C completely for a few frames, then C comes out again.
"""
from __future__ import annotations

import json

import cv2
import numpy as np

from segctl import hookimpl
from segctl.specs import BackendSpec, TrackerSpec

H, W = 240, 320


def scene(n: int = 36):
    """``n`` BGR frames and, per frame, the true centres ``{name: (x, y)}`` of the discs at least
    a third visible. A and B cross; a black bar sweeping left hides C for a few frames."""
    frames, truth = [], []
    rng = np.random.default_rng(0)  # a static grey texture: what camera-motion estimation locks on to
    ground = cv2.GaussianBlur(rng.integers(70, 190, (H, W)).astype(np.uint8), (0, 0), 1.5)
    ground = cv2.cvtColor(ground, cv2.COLOR_GRAY2BGR)
    for f in range(n):
        im = ground.copy()
        a = (30 + 8 * f, 90)
        b = (290 - 8 * f, 100)
        c = (20 + 6 * f, 185)
        bar = 330 - 24 * f
        cv2.circle(im, c, 16, (0, 0, 230), -1)
        visible_c = int((im[..., 2] == 230)[150:225].sum())
        cv2.rectangle(im, (bar, 150), (bar + 60, 225), (0, 0, 0), -1)  # the bar hides C for a while
        visible_c = int((im[..., 2] == 230)[150:225].sum()) / max(visible_c, 1)
        cv2.circle(im, a, 20, (0, 0, 230), -1)
        cv2.circle(im, b, 20, (230, 0, 0), -1)
        t = {"A": a, "B": b}
        if visible_c > 0.33:
            t["C"] = c
        frames.append(im)
        truth.append(t)
    return frames, truth


def write_video(path, frames, fps: float = 10.0) -> str:
    """MJPG AVI: every frame a JPEG of its own (so a test can damage exactly one)."""
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    for im in frames:
        vw.write(im)
    vw.release()
    return str(path)


def damage_frame(path, k: int) -> None:
    """Overwrite the JPEG data of frame ``k`` (0-based) of an MJPG AVI, keeping the file's size."""
    data = bytearray(open(path, "rb").read())
    soi = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    for i in range(soi[k] + 2, soi[k + 1] - 16):
        data[i] = 0x55
    open(path, "wb").write(bytes(data))


class BlobDetector:
    """Backend: ``__call__(x [B,3,H,W] RGB 0..1)`` → end-to-end outputs (boxes in input pixels)."""

    def __init__(self, path, device="cpu", session=None):
        cfg = json.loads(open(path).read())
        self.metadata = {"names": {0: "red", 1: "blue"}, "stride": 32, "dynamic": True, "task": "segment",
                         "nms": True, "imgsz": [H, W]}
        self.score = float(cfg.get("score", 0.9))
        self.device = device

    names = property(lambda self: dict(self.metadata["names"]))
    stride = property(lambda self: [32.0])
    fp16 = False

    def __call__(self, x):
        import torch

        rgb = (x.detach().float().cpu().numpy().transpose(0, 2, 3, 1) * 255).astype(np.uint8)
        B, h, w = rgb.shape[:3]
        dets = []
        for im in rgb:
            found = []
            for cls, m in ((0, (im[..., 0] > 150) & (im[..., 2] < 100)), (1, (im[..., 2] > 150) & (im[..., 0] < 100))):
                n, lab, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
                for k in range(1, n):
                    x0, y0, bw, bh, area = stats[k]
                    if area >= 30:
                        found.append((cls, [x0, y0, x0 + bw, y0 + bh], lab == k))
            dets.append(found)
        k = max([len(d) for d in dets] + [1])
        boxes, scores = torch.zeros(B, k, 4), torch.zeros(B, k)
        classes, masks = torch.zeros(B, k), torch.zeros(B, k, h, w)
        num = torch.zeros(B, dtype=torch.long)
        for i, d in enumerate(dets):
            num[i] = len(d)
            for j, (c, b, m) in enumerate(d):
                boxes[i, j] = torch.tensor(b, dtype=torch.float32)
                scores[i, j], classes[i, j] = self.score, c
                masks[i, j] = torch.from_numpy(m.astype(np.float32))
        return {"boxes": boxes, "scores": scores, "classes": classes, "masks": masks, "num": num}


class CentroidTracker:
    """Nearest-centre tracker: each detection takes the closest free track within ``max_dist``."""

    DEFAULTS = {"max_dist": 40.0}

    def __init__(self, cfg=None, frame_rate=30.0):
        unknown = set(cfg or {}) - set(self.DEFAULTS)
        if unknown:
            raise ValueError(f"centroid: unknown keys {sorted(unknown)}")
        self.max_dist = float({**self.DEFAULTS, **(cfg or {})}["max_dist"])
        self.reset()

    def reset(self):
        self.tracks, self.next_id = {}, 1

    def update(self, boxes, scores, classes, masks=None, image=None):
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        rows, free = [], dict(self.tracks)
        for k, c in enumerate(centres):
            best = min(free, key=lambda t: np.hypot(*(free[t] - c)), default=None)
            if best is None or np.hypot(*(free[best] - c)) > self.max_dist:
                best, self.next_id = self.next_id, self.next_id + 1
            else:
                free.pop(best)
            self.tracks[best] = c
            rows.append([*boxes[k], best, scores[k], classes[k], k])
        return np.array(rows, float).reshape(-1, 8)


@hookimpl
def segctl_register_backends():
    return [BackendSpec(name="blobdet", target="track_fakes:BlobDetector", suffixes=(".blobdet",))]


@hookimpl
def segctl_register_trackers():
    return [TrackerSpec(name="centroid", target="track_fakes:CentroidTracker", description="nearest centre (test)")]
