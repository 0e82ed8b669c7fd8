"""Training throughput of yolov8n-seg on CPU: images/s and where the time goes.

    python benchmarks/train_speed.py [--imgsz 320 640] [--batch 8] [--iters 6] [--workers N] [--no-baseline]

Times the real training step of segctl's trainer pieces (DataLoader over the shapes demo set with
mosaic augmentation → forward → SegmentationLoss → backward → optimiser + EMA), after two warm-up
iterations, and prints images/s plus the share of each phase. segctl's setting uses every core
(torch threads = CPU count, data in worker processes); the baseline, measured in the same run, is
the reference implementation's setting on this machine (torch pinned to one thread, data loaded in
the main process), and the ratio of the two is printed.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--imgsz", type=int, nargs="+", default=[320, 640])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-baseline", dest="baseline", action="store_false",
                    help="skip the one-thread, main-process-data baseline")
    args = ap.parse_args()

    import torch

    from segctl.session import Session
    from segctl_dataset_shapes.generate import generate
    from segctl_tasks_segment.engine_setup import load_split
    from segctl_tasks_segment.schema import OPTIONS

    torch.set_num_threads(args.threads)
    session = Session.create()
    tmp = tempfile.mkdtemp(prefix="segctl-bench-")
    data = generate(tmp, n_train=max(args.batch * (args.iters + 2), 16), n_val=2, imgsz=320, seed=0, coco=False)
    cfg = {o.name: o.default for o in OPTIONS}
    cfg.update(data=str(data), workers=args.workers, verbose=False)
    data_cfg, fmt = session.resolve_data(str(data))
    index = load_split(fmt, data_cfg, "train", cfg)
    print(f"torch {torch.__version__}, segctl: {args.threads} threads, {args.workers} data workers; batch {args.batch}, "
          f"{args.iters} timed iterations")
    settings = [("segctl", args.threads, args.workers)]
    if args.baseline:
        settings.insert(0, ("baseline (1 thread, main-process data)", 1, 0))
    for imgsz in args.imgsz:
        speeds = {}
        for label, threads, workers in settings:
            torch.set_num_threads(threads)
            speeds[label] = measure(session, index, {**cfg, "workers": workers}, imgsz, args)
            print(f"imgsz {imgsz} {label}: {speeds[label][1]}")
        if args.baseline:
            (b, _), (s, _) = (v for v in speeds.values())
            print(f"imgsz {imgsz}: segctl / baseline = {s / b:.2f}x")
    torch.set_num_threads(args.threads)


def measure(session, index, cfg: dict, imgsz: int, args) -> tuple[float, str]:
    """``(images/s, report)`` of ``args.iters`` timed training iterations at ``imgsz``."""
    import torch

    from segctl.nn import build_from_session
    from segctl_tasks_segment.engine_setup import make_loader
    from segctl_tasks_segment.loss import SegmentationLoss
    from segctl_tasks_segment.optim import ModelEMA, build_optimizer

    torch.manual_seed(0)
    model = build_from_session("yolov8n-seg.yaml", session, nc=len(index.names), names=index.names).train()
    crit = SegmentationLoss(model, hyp=cfg)
    opt, *_ = build_optimizer(model, "AdamW", lr=1e-3)
    ema = ModelEMA(model)
    loader, _ = make_loader(index, cfg, imgsz, args.batch, 32, train=True)
    t = {"data": 0.0, "forward": 0.0, "loss": 0.0, "backward": 0.0, "optimizer": 0.0}
    it = iter(loader)
    n = 0
    for k in range(args.iters + 2):
        t0 = time.perf_counter()
        batch = next(it)
        img = batch["img"].float() / 255
        t1 = time.perf_counter()
        preds = model(img)
        t2 = time.perf_counter()
        loss, _ = crit(preds, batch)
        t3 = time.perf_counter()
        loss.backward()
        t4 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        ema.update(model)
        t5 = time.perf_counter()
        if k >= 2:
            for key, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                t[key] += dt
            n += img.shape[0]
    total = sum(t.values())
    share = ", ".join(f"{k} {v / total:.0%}" for k, v in t.items())
    return n / total, f"{n / total:.2f} images/s ({total / max(n, 1) * 1e3:.0f} ms/image); {share}"


if __name__ == "__main__":
    main()
