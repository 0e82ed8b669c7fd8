"""Tracker overhead per frame against plain prediction, with 50 objects per frame.

Why: tracking must not slow a video pipeline down; the target is <= 5 % of the model's time per
frame. Measured in the same run: (a) ``model.predict`` per frame (pre-process + inference +
post-process, as ``Results.speed`` reports it) on a 640x640 video; (b) each tracker's ``update``
on 50 moving detections per frame (with their masks for mask-IoU association); (c) track mode's
own step per frame (``Results.speed["track"]``: update + attaching ids and masks) on the video.

Usage: python benchmarks/track_speed.py [--model yolov8n-seg.yaml] [--imgsz 640] [--frames 60] [--objects 50]
(run it alone on shared machines: nothing else busy)
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def detections(n_frames: int, n: int, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(30, size - 30, (n, 2))
    vel = rng.uniform(-3, 3, (n, 2))
    r = rng.uniform(8, 20, n)
    yy, xx = np.mgrid[:size, :size]
    for _ in range(n_frames):
        pos = np.clip(pos + vel, 20, size - 20)
        boxes = np.c_[pos - r[:, None], pos + r[:, None]]
        masks = np.zeros((n, size, size), bool)
        for k in range(n):
            x0, y0, x1, y1 = boxes[k].astype(int)
            masks[k, y0:y1, x0:x1] = ((xx[y0:y1, x0:x1] - pos[k, 0]) ** 2 + (yy[y0:y1, x0:x1] - pos[k, 1]) ** 2) <= r[k] ** 2
        yield boxes, rng.uniform(0.3, 0.95, n), rng.integers(0, 7, n), masks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ultralytics"
                                           / "yolov8n-seg-shapes.pt"))
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--objects", type=int, default=50)
    a = ap.parse_args()
    import cv2
    from rich.console import Console
    from rich.table import Table

    from segctl import YOLO
    from segctl.session import Session

    con = Console(width=140)
    size = a.imgsz
    data = list(detections(a.frames, a.objects, size))
    # a video of those objects, so the model and camera-motion estimation see real pixels
    tmp = Path(tempfile.mkdtemp(prefix="segctl_track_speed_"))
    video = str(tmp / "objects.avi")
    vw = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 25, (size, size))
    rng = np.random.default_rng(1)
    ground = cv2.GaussianBlur(rng.integers(60, 200, (size, size, 3)).astype(np.uint8), (0, 0), 3)
    frames = []
    for boxes, _, cls, masks in data:
        im = ground.copy()
        for k, m in enumerate(masks):
            im[m] = (40 * (cls[k] + 1)) % 255, 200, 255 - 30 * cls[k]
        frames.append(im)
        vw.write(im)
    vw.release()

    model = YOLO(a.model)
    list(model.predict(frames[0], imgsz=size, verbose=False))  # warm-up (backend choice, compilation)
    speeds = [r.speed for r in model.predict(video, imgsz=size, verbose=False, stream=True)]
    predict_ms = float(np.mean([s["preprocess"] + s["inference"] + s["postprocess"] for s in speeds]))

    session = Session.create()
    table = Table(title=f"tracker overhead per frame, {a.objects} objects, {size}x{size}, model {Path(a.model).name}",
                  show_edge=False)
    for c in ("tracker", "update ms/frame", "% of predict", "track-mode step ms/frame", "% of predict "):
        table.add_column(c, justify="right" if c != "tracker" else "left")
    table.add_row("predict (pre + inference + post)", f"{predict_ms:.1f}", "100", "", "")
    rows = {}
    for label, name, cfg in (("ByteTrack", "bytetrack", {}), ("BoT-SORT-style (sparse flow)", "botsort", {}),
                             ("ByteTrack + mask IoU", "bytetrack", {"mask_iou": 0.5})):
        tracker = session.registry.get("trackers", name).load()(dict(cfg), 25.0)
        times = []
        for (boxes, scores, cls, masks), im in zip(data, frames):
            t0 = time.perf_counter()
            tracker.update(boxes, scores, cls, masks=masks if tracker.uses_masks else None, image=im)
            times.append(time.perf_counter() - t0)
        upd = 1e3 * float(np.mean(times[3:]))
        yaml_path = tmp / f"{name}-{len(cfg)}.yaml"
        yaml_path.write_text(f"tracker_type: {name}\n" + "".join(f"{k}: {v}\n" for k, v in cfg.items()))
        step = [r.speed["track"] for r in model.track(video, imgsz=size, tracker=str(yaml_path), verbose=False,
                                                       stream=True)]
        step_ms = float(np.mean(step[3:]))
        rows[label] = (upd, step_ms)
        table.add_row(label, f"{upd:.2f}", f"{100 * upd / predict_ms:.1f}", f"{step_ms:.2f}",
                      f"{100 * step_ms / predict_ms:.1f}")
    con.print(table)
    n_det = np.mean([len(r) for r in model.track(video, imgsz=size, verbose=False, stream=True)])
    con.print(f"(the model found {n_det:.1f} tracked objects per frame in the video; update times above use "
              f"{a.objects} synthetic detections per frame)")


if __name__ == "__main__":
    main()
