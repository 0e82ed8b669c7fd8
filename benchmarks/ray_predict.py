"""Batch prediction on a local Ray cluster: images/s with 1 and 2 inference actors against the local
runner in the same run, where the time goes, and the per-image costs the scaling model in
docs/scale-out.md is built from.

    python benchmarks/ray_predict.py [--n 500] [--imgsz 640] [--batch 8] [--model best.pt] [--cpus 2]

Images: the built-in shapes set at ``--imgsz`` px (``segctl data demo``), made in a temporary
folder. Model: ``--model`` (a trained checkpoint), else the repository's fixture checkpoint. The
cluster is local (``--cpus`` logical CPUs, loopback only) and started once; its start-up is reported
apart. Each figure is end to end as a user sees it: ``predict(..., runner=...)`` from call to
return, model loading and writing the Parquet results included (the local runner writes nothing).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # the cluster binds to loopback only

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "ultralytics" / "yolov8n-seg-shapes.pt"


def per_image_costs(model: str, src: Path, imgsz: int, batch: int, n: int) -> dict:
    """Single-thread ms per image of each step, in this process: the cost model's inputs."""
    import numpy as np
    import torch

    from segctl.session import Session
    from segctl_runner_ray.output import OutputStore
    from segctl_tasks_segment.jobs import PredictJob
    from segctl_tasks_segment.predictor import SegmentPredictor
    from segctl_tasks_segment.sources import Frame

    torch.set_num_threads(1)
    session = Session.create()
    cfg = session.schema("segment").resolve({"model": model, "source": str(src), "imgsz": imgsz, "batch": batch,
                                             "output": tempfile.mkdtemp(prefix="segctl_bench_")})
    t = time.perf_counter()
    job = PredictJob(cfg, session)
    work = job.worker()
    t_setup = time.perf_counter() - t
    items = job.items[:n]
    t = time.perf_counter()
    payloads = [job.load(i, it) for i, it in enumerate(items)]
    t_load = time.perf_counter() - t
    p: SegmentPredictor = work.predictor
    t_inf = t_post = 0.0
    rows = []
    for s in range(0, len(payloads), batch):
        chunk = payloads[s:s + batch]
        x = p.to_input(np.stack([c["image"] for c in chunk]))
        t = time.perf_counter()
        out = p.backend(x)
        t_inf += time.perf_counter() - t
        t = time.perf_counter()
        frames = [Frame(c["path"], np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (*c["shape"], 3))) for c in chunk]
        results = p.postprocess(out, x, frames, [c["ratio_pad"] for c in chunk])
        rows += [work._row(c, r) for c, r in zip(chunk, results)]
        t_post += time.perf_counter() - t
    warm = OutputStore(tempfile.mkdtemp(prefix="segctl_bench_"), job.columns, 1, "x", {}, shard_size=1).open()
    warm.add(0, rows[0])  # pyarrow's Parquet writer and codec load on first use: not a per-row cost
    store = OutputStore(tempfile.mkdtemp(prefix="segctl_bench_"), job.columns, len(rows), "x", {}, shard_size=len(rows))
    store.open()
    t = time.perf_counter()
    for i, r in enumerate(rows):
        store.add(i, r)
    t_write = time.perf_counter() - t
    size = store.path(0).stat().st_size
    torch.set_num_threads(os.cpu_count() or 1)
    k = len(items)
    dets = sum(len(r["scores"]) for r in rows) / k
    return {"setup_s": t_setup, "load": t_load * 1e3 / k, "inference": t_inf * 1e3 / k, "post": t_post * 1e3 / k,
            "write": t_write * 1e3 / k, "bytes_per_row": size / k, "dets": dets, "n": k}


def run_local(model: str, src: Path, imgsz: int, batch: int) -> tuple[float, int]:
    from segctl import YOLO

    t = time.perf_counter()
    n = sum(1 for _ in YOLO(model).predict(str(src), stream=True, imgsz=imgsz, batch=batch, verbose=False))
    return time.perf_counter() - t, n


def run_ray(model: str, src: Path, imgsz: int, batch: int, workers: int, out: Path) -> tuple[float, int, str, dict]:
    from segctl.session import Session
    from segctl_runner_ray.runner import RayRunner

    session = Session.create()
    cfg = session.schema("segment").resolve({"model": model, "source": str(src), "imgsz": imgsz, "batch": batch,
                                             "workers": workers, "output": str(out), "runner": "ray",
                                             "verbose": False})
    cfg.update(mode="predict", task="segment")
    runner = RayRunner()
    t = time.perf_counter()
    summary = runner.run(session.task("segment"), "predict", cfg, session)
    return time.perf_counter() - t, summary.images, str(runner.stats), runner.plan


def stage_lines(stats: str) -> list[str]:
    """The per-operator lines of Ray Data's stats: wall and CPU time of the decode and actor stages."""
    out, on = [], False
    for line in (x.strip() for x in stats.splitlines()):
        if line.startswith("Operator"):
            on = "MapBatches" in line
        if on and line.startswith(("Operator", "* Remote wall time", "* Remote cpu time")):
            out.append("    " + line)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--model", default=str(FIXTURE))
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--cost-images", type=int, default=40, help="images for the single-thread per-step costs")
    args = ap.parse_args()
    try:
        import ray
    except ImportError:
        print("ray is not installed (make install-extras): benchmark skipped")
        return
    from segctl_dataset_shapes.generate import generate

    work = Path(tempfile.mkdtemp(prefix="segctl_raybench_"))
    try:
        t = time.perf_counter()
        data = generate(work / "shapes", n_train=args.n, n_val=1, imgsz=args.imgsz, seed=0, coco=False)
        src = Path(data).parent / "images" / "train"
        print(f"{args.n} images of {args.imgsz}x{args.imgsz} px made in {time.perf_counter() - t:.1f} s; model "
              f"{Path(args.model).name}; batch {args.batch}; {os.cpu_count()} cores")

        c = per_image_costs(args.model, src, args.imgsz, args.batch, args.cost_images)
        print(f"\nper-image cost on ONE core ({c['n']} images, {c['dets']:.1f} detections/image), ms:")
        print(f"  decode+letterbox {c['load']:.1f} | inference {c['inference']:.1f} | NMS+masks+RLE rows "
              f"{c['post']:.1f} | driver Parquet write {c['write']:.2f} | row size {c['bytes_per_row']:.0f} B")

        t0 = time.perf_counter()
        wall_local, n_local = run_local(args.model, src, args.imgsz, args.batch)
        print(f"\nlocal runner : {n_local} images in {wall_local:6.1f} s = {n_local / wall_local:6.2f} images/s")

        t = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING", log_to_driver=False,
                 object_store_memory=512 * 1024 ** 2)
        t_start = time.perf_counter() - t
        print(f"ray cluster  : started in {t_start:.1f} s ({args.cpus} CPUs, loopback)")
        rates = {}
        for workers in (1, 2):
            wall, n, stats, plan = run_ray(args.model, src, args.imgsz, args.batch, workers, work / f"out{workers}")
            rates[workers] = n / wall
            print(f"ray {workers} actor{'s' if workers > 1 else ' '}: {n} images in {wall:6.1f} s = {rates[workers]:6.2f}"
                  f" images/s  ({plan['actors']} x {plan['actor_cpus']:g} CPU, {plan['actor_threads']} thread(s))")
            print("\n".join(stage_lines(stats)))
        ray.shutdown()
        print(f"\nratio 2 actors / 1 actor: {rates[2] / rates[1]:.2f}x;  ray 2 actors / local: "
              f"{rates[2] / (n_local / wall_local):.2f}x;  ray 1 actor / local: {rates[1] / (n_local / wall_local):.2f}x")
        core_ms = c["load"] + c["inference"] + c["post"]
        print(f"model: one core does one image in {core_ms:.0f} ms -> {1e3 / core_ms:.2f} images/s per core; "
              f"{args.cpus} cores: {args.cpus * 1e3 / core_ms:.2f} images/s if it scaled perfectly")
        print(f"total {time.perf_counter() - t0:.0f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
