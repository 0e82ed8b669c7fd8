"""Predict speed on CPU, measured on the user's path.

Part 1 -- the loop every video and service user writes (issue 14), yolov8n-seg at ``--imgsz`` on the
shared fixture images (``--loop-model``, default the reference fixture checkpoint), interleaved in one run:
  * per-call wall time of ``model(frame)`` vs the backend's bare runtime call on the same letterboxed
    input: overhead ratio ``(wall - forward) / forward`` (goal <= 0.05), for ``backend=torch`` and
    the default ``backend=auto``;
  * the default CPU path (``auto``) vs ``backend=torch``, wall per call (goal <= 0.6);
  * FPS of ``stream=True`` over a 100-frame video, default backend.

Part 2 -- the predictor's own split (PyTorch backend): preprocess / inference / postprocess ms per
image with a realistic number of detections.

    python benchmarks/predict_speed.py [--imgsz 640] [--n 10] [--model path.pt] [--instances 30] [--calls 24]

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
    ap.add_argument("--calls", type=int, default=24, help="part 1: calls per backend (median)")
    ap.add_argument("--loop-model", default=str(FIXTURES / "yolov8n-seg-shapes.pt"))
    ap.add_argument("--frames", type=int, default=100, help="part 1: frames of the video")
    args = ap.parse_args()
    user_loop(args)

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


FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ultralytics"


def user_loop(args) -> None:
    """Part 1 (see the module docs)."""
    import statistics
    import tempfile
    from pathlib import Path

    import cv2
    import numpy as np

    from segctl import YOLO

    frames = [cv2.imread(str(p)) for p in sorted((FIXTURES / "images").glob("*.jpg"))]
    backends = ("torch", "auto")
    models = {b: YOLO(args.loop_model) for b in backends}  # one object per backend, as a user has
    wall: dict[str, list[float]] = {b: [] for b in backends}
    bare: dict[str, list[float]] = {b: [] for b in backends}
    natives = {}
    for b in backends:  # build (and for auto: compile or load from the cache) before timing
        models[b](frames[0], imgsz=args.imgsz, verbose=False, backend=b)
    for i in range(args.calls + 2):
        for b in backends:
            frame = frames[i % len(frames)]
            t0 = time.perf_counter()
            models[b](frame, imgsz=args.imgsz, verbose=False, backend=b)
            w = time.perf_counter() - t0
            p = models[b]._predictor
            if b not in natives:
                x, _ = p.preprocess([frame])
                natives[b] = (type(p.backend).__name__, p.backend.native(x))
            t0 = time.perf_counter()
            natives[b][1]()
            f = time.perf_counter() - t0
            if i >= 2:  # two warm-up rounds
                wall[b].append(w)
                bare[b].append(f)
    med = {b: statistics.median(wall[b]) * 1e3 for b in backends}
    fwd = {b: statistics.median(bare[b]) * 1e3 for b in backends}
    print(f"[user loop] {Path(args.loop_model).name}, imgsz {args.imgsz}, {args.calls} calls per backend, "
          f"interleaved, {len(frames)} fixture images ({frames[0].shape[1]}x{frames[0].shape[0]})")
    for b in backends:
        print(f"  backend={b:5s} ({natives[b][0]}): {med[b]:.1f} ms/call, bare runtime call {fwd[b]:.1f} ms, "
              f"overhead ratio (wall - forward)/forward = {(med[b] - fwd[b]) / fwd[b]:.3f} (goal <= 0.05)")
    print(f"  default (auto) / torch wall per call = {med['auto'] / med['torch']:.2f} (goal <= 0.6)")
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "clip.mp4"
        h, w = frames[0].shape[:2]
        vw = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
        for i in range(args.frames):
            vw.write(np.roll(frames[(i // 25) % len(frames)], 4 * (i % 25), axis=1))
        vw.release()
        t0 = time.perf_counter()
        n = sum(1 for _ in models["auto"](str(video), stream=True, imgsz=args.imgsz, verbose=False))
        dt = time.perf_counter() - t0
    print(f"  video: {n} frames {w}x{h}, stream=True, default backend: {n / dt:.1f} FPS end to end "
          f"(decode + predict + postprocess)")


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
