"""Training data-loading throughput: images/s with mosaic at imgsz 640, workers=0 vs workers=N.

Why: the data pipeline (decode, mosaic, random perspective, mask rasterisation) must keep up with the
GPU; this prints the absolute figures and the speed-up of worker processes over the main process,
both measured in the same run on the same synthetic dataset.

Usage: python benchmarks/dataloader.py [--images 64] [--batch 16] [--batches 8] [--workers 2] [--imgsz 640]
The dataset comes from ``segctl_dataset_shapes.generate`` when installed, else from a small
generator in this file. Nothing is downloaded.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_dataset(root: Path, n: int, imgsz: int, seed: int = 0) -> Path:
    """Write ``n`` train images and labels; return the data YAML path."""
    try:
        from segctl_dataset_shapes.generate import generate

        return Path(generate(root, n_train=n, n_val=2, imgsz=imgsz, seed=seed, coco=False))
    except ImportError:
        pass
    import cv2

    rng = np.random.default_rng(seed)
    for split, count in (("train", n), ("val", 2)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            img = rng.integers(0, 255, (1, 1, 3)).astype(np.uint8).repeat(imgsz, 0).repeat(imgsz, 1)
            rows = []
            for _ in range(int(rng.integers(2, 8))):
                c = rng.uniform(0.15, 0.85, 2)
                r = rng.uniform(0.05, 0.15)
                k = int(rng.integers(3, 9))
                ang = np.sort(rng.uniform(0, 2 * np.pi, k))
                pts = np.stack([c[0] + r * np.cos(ang), c[1] + r * np.sin(ang)], 1).clip(0, 1)
                cv2.fillPoly(img, [np.round(pts * imgsz).astype(np.int32)], tuple(int(v) for v in rng.integers(0, 255, 3)))
                rows.append(f"{k % 3} " + " ".join(f"{v:.5f}" for v in pts.reshape(-1)))
            cv2.imwrite(str(root / "images" / split / f"{i:05d}.jpg"), img)
            (root / "labels" / split / f"{i:05d}.txt").write_text("\n".join(rows) + "\n")
    y = root / "data.yaml"
    y.write_text("path: .\ntrain: images/train\nval: images/val\nnames: [a, b, c]\n")
    return y


def throughput(index, imgsz: int, batch: int, batches: int, workers: int) -> tuple[float, float]:
    """Images per second over ``batches`` batches after one warm-up batch (worker start-up excluded),
    and main-process CPU milliseconds per image (the pipeline's own cost when ``workers=0``)."""
    from segctl_tasks_segment.data import SegmentDataset, build_dataloader

    ds = SegmentDataset(index, imgsz, augment=True, hyp={"mosaic": 1.0}, batch_size=batch)
    loader = build_dataloader(ds, batch, workers, shuffle=True, seed=0)
    it = iter(loader)
    n = 0
    next(it)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(batches):
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            b = next(it)
        n += len(b["img"])
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    del it, loader
    return n / dt, cpu / n * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    import yaml

    from segctl_dataset_yolo.format import YOLOFormat

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        y = make_dataset(Path(tmp) / "ds", args.images, args.imgsz)
        gen_s = time.perf_counter() - t
        fmt = YOLOFormat()
        data = fmt.check_config(yaml.safe_load(Path(y).read_text()), y)
        t = time.perf_counter()
        index = fmt.load(data, "train", workers=2)
        scan_s = time.perf_counter() - t
        print(f"dataset: {len(index)} images at {args.imgsz}px (generated in {gen_s:.1f}s, verified in {scan_s:.2f}s); "
              f"cpu cores: {os.cpu_count()}")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        base, cpu_ms = throughput(index, args.imgsz, args.batch, args.batches, 0)
        print(f"workers=0: {base:7.1f} images/s  (mosaic, imgsz {args.imgsz}, batch {args.batch}; "
              f"{cpu_ms:.1f} CPU ms/image; load average {load:.1f})")
        par, _ = throughput(index, args.imgsz, args.batch, args.batches, args.workers)
        print(f"workers={args.workers}: {par:7.1f} images/s")
        print(f"ratio workers={args.workers} / workers=0: {par / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
