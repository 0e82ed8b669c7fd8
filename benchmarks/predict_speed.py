"""Predict latency of yolov8n-seg at 640 on CPU (PyTorch backend): preprocess / inference /
postprocess ms per image with a realistic number of detections.

    python benchmarks/predict_speed.py [--imgsz 640] [--n 10] [--model path.pt] [--instances 30]

Without ``--model`` a random yolov8n-seg is used. In both cases ``conf`` is set so that about
3 × ``--instances`` candidates enter NMS and ``--instances`` detections come out, as in a real
scene with a few dozen objects. Post-processing (NMS + masks) should be a small share
of inference.
"""
from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--model", default="")
    ap.add_argument("--instances", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--retina", action="store_true")
    args = ap.parse_args()

    import numpy as np
    import torch

    from segctl.session import Session
    from segctl_tasks_segment.predictor import SegmentPredictor
    from segctl_tasks_segment.schema import OPTIONS

    torch.set_num_threads(args.threads)
    session = Session.create()
    if args.model:
        model = args.model
    else:
        from segctl.nn import build_from_session

        model = build_from_session("yolov8n-seg.yaml", session, nc=7).eval()
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(args.n + 2)]
    conf = _conf_for(model, session, imgs[0], args.imgsz, 3 * args.instances)
    cfg = {o.name: o.default for o in OPTIONS}
    cfg.update(model=model if isinstance(model, str) else None, imgsz=args.imgsz, save=False, verbose=False,
               max_det=args.instances, conf=conf, device="cpu", retina_masks=args.retina)
    if not isinstance(model, str):
        cfg["model_object"] = model
    pred = SegmentPredictor(cfg, session)
    pred(imgs[:2])  # warm-up
    pred.dt = [0.0, 0.0, 0.0]
    pred.seen = 0
    t0 = time.perf_counter()
    res = pred(imgs[2:])
    wall = time.perf_counter() - t0
    n = len(res)
    dets = np.mean([len(r) for r in res])
    pre, inf, post = (v * 1e3 / n for v in pred.dt)
    print(f"torch {torch.__version__}, {args.threads} threads, imgsz {args.imgsz}, 480x640 inputs, "
          f"{dets:.0f} detections/image, retina_masks={args.retina}")
    print(f"preprocess {pre:.1f} ms, inference {inf:.1f} ms, postprocess {post:.1f} ms per image "
          f"(post/inference {post / inf:.2f}); wall {wall * 1e3 / n:.1f} ms/image")


def _conf_for(model, session, img, imgsz: int, k: int) -> float:
    """A confidence threshold that lets about ``k`` candidates into NMS, as a real scene with a
    few dozen objects does (``conf=0`` would time NMS over all 8400 anchors, which no user runs)."""
    import cv2
    import torch

    from segctl.export import load_backend

    backend = load_backend(model, session)
    x = torch.from_numpy(cv2.resize(img, (imgsz, imgsz))[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        pred = backend(x)[0]
    nc = len(backend.names)
    scores = pred[0, 4:4 + nc].amax(0).sort(descending=True).values
    return float(scores[min(k, len(scores) - 1)])


if __name__ == "__main__":
    main()
