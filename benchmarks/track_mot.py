"""MOT metrics of segctl's trackers on the moving-shapes video (ground-truth ids, occlusions,
objects entering and leaving, camera pan), with py-motmetrics.

Two tables:
1. *Trackers alone*: every tracker fed the same degraded ground truth (box jitter, missed
   detections, low-score detections, false positives; visible masks for mask-aware association),
   so the figures compare association, not a detector.
2. *End to end* (``--model best.pt``): ``model.track`` on the video, its ``save_txt`` MOT rows
   evaluated against the ground truth -- the command users run on their own MOT data is
   ``python -m segctl_trackers.moteval GT PRED``.

Usage: python benchmarks/track_mot.py [--frames 150] [--objects 16] [--pan 2] [--shake 6] [--model best.pt]
       [--imgsz 320] [--out DIR] [--json results.json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

TRACKERS = {"ByteTrack": ("bytetrack", {}), "BoT-SORT-style": ("botsort", {}),
            "ByteTrack + mask IoU": ("bytetrack", {"mask_iou": 0.5}),
            "BoT-SORT + mask IoU": ("botsort", {"mask_iou": 0.5})}


def degraded_detections(gt: dict, masks: np.lib.npyio.NpzFile, n_frames: int, size: int, seed: int = 0):
    """Per frame ``(boxes xyxy, scores, classes, masks, image=None)`` from the ground truth."""
    rng = np.random.default_rng(seed)
    shape = tuple(masks["shape"])
    cls_of = {}
    for f in range(1, n_frames + 1):
        ids, boxes = gt.get(f, (np.zeros(0, int), np.zeros((0, 4))))
        rows, ms = [], []
        for i, (x, y, w, h) in zip(ids.tolist(), boxes):
            if rng.random() < 0.08:  # missed
                continue
            j = rng.normal(0, 1.5, 4)
            score = rng.uniform(0.3, 0.95) if rng.random() > 0.15 else rng.uniform(0.12, 0.25)
            rows.append([x + j[0], y + j[1], x + w + j[2], y + h + j[3], score, cls_of.setdefault(i, i % 7)])
            ms.append(np.unpackbits(masks[f"f{f}_id{i}"])[: shape[0] * shape[1]].reshape(shape).astype(bool))
        if rng.random() < 0.3:  # a false positive somewhere
            x, y = rng.uniform(0, size - 40, 2)
            rows.append([x, y, x + 30, y + 30, rng.uniform(0.15, 0.5), 0])
            m = np.zeros(shape, bool)
            m[int(y):int(y) + 30, int(x):int(x) + 30] = True
            ms.append(m)
        r = np.array(rows, float).reshape(-1, 6)
        yield r[:, :4], r[:, 4], r[:, 5], (np.array(ms) if ms else np.zeros((0, *shape), bool))


def run_trackers(paths: dict, n_frames: int, size: int, out: Path) -> dict:
    from segctl.session import Session
    from segctl_trackers.moteval import evaluate, read_mot

    session = Session.create()
    gt = read_mot(paths["gt"])
    masks = np.load(paths["masks"])
    results = {}
    for label, (name, cfg) in TRACKERS.items():
        tracker = session.registry.get("trackers", name).load()(dict(cfg), 25.0)
        import cv2

        cap = cv2.VideoCapture(paths["video"])
        lines = []
        for f, (boxes, scores, classes, ms) in enumerate(degraded_detections(gt, masks, n_frames, size), 1):
            ok, image = cap.read()
            rows = tracker.update(boxes, scores, classes, masks=ms if tracker.uses_masks else None,
                                  image=image if ok else None)
            lines += [f"{f},{int(r[4])},{r[0]:.2f},{r[1]:.2f},{r[2] - r[0]:.2f},{r[3] - r[1]:.2f},{r[5]:.3f},{int(r[6])},-1,-1\n"
                      for r in rows]
        cap.release()
        pred = out / f"{label.replace(' ', '_').replace('+', 'plus')}.txt"
        pred.write_text("".join(lines))
        results[label] = evaluate(paths["gt"], pred)
    return results


def run_model(paths: dict, model: str, imgsz: int, out: Path) -> dict:
    from segctl import YOLO
    from segctl_trackers.moteval import evaluate

    m = YOLO(model)
    results = {}
    for label, (name, cfg) in TRACKERS.items():
        yaml_path = out / f"{name}-{len(cfg)}.yaml"
        yaml_path.write_text(f"tracker_type: {name}\n" + "".join(f"{k}: {v}\n" for k, v in cfg.items()))
        run = label.replace(" ", "_").replace("+", "plus")
        m.track(paths["video"], imgsz=imgsz, tracker=str(yaml_path), save_txt=True, project=str(out), name=run,
                exist_ok=True, verbose=False, stream=False)
        results[label] = evaluate(paths["gt"], out / run / "labels" / (Path(paths["video"]).stem + ".txt"))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--objects", type=int, default=16)
    ap.add_argument("--pan", type=float, default=2.0)
    ap.add_argument("--shake", type=float, default=6.0)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--out", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    from rich.console import Console

    from segctl_dataset_shapes.video import make_tracking_video
    from segctl_trackers.moteval import table

    out = Path(a.out or tempfile.mkdtemp(prefix="segctl_track_mot_"))
    paths = make_tracking_video(out / "data", n_frames=a.frames, size=a.size, n_objects=a.objects, pan=a.pan, shake=a.shake,
                                seed=a.seed, masks=True, frames=False)
    n_gt = len(Path(paths["gt"]).read_text().splitlines())
    con = Console(width=160)
    con.print(f"moving-shapes video: {a.frames} frames at {a.size}px, {a.objects} objects, pan {a.pan} px/frame, shake {a.shake} px, "
              f"{n_gt} ground-truth boxes ({out / 'data'})")
    report = {"setup": vars(a), "trackers_alone": run_trackers(paths, a.frames, a.size, out)}
    con.print(table(report["trackers_alone"], "trackers alone (degraded ground-truth detections)"))
    if a.model:
        report["end_to_end"] = run_model(paths, a.model, a.imgsz, out)
        con.print(table(report["end_to_end"], f"end to end: {a.model} at imgsz {a.imgsz}"))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
