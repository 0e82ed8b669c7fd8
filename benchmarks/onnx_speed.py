"""ONNX Runtime CPU speed of segctl's yolov8n-seg export vs the reference implementation's ONNX.

Exports the fixture checkpoint (an Ultralytics yolov8n-seg) with segctl at 640, then times both
ONNX files in the same process on the same input: median ms/image over ``--runs`` batch-1 runs after
warm-up, with identical session options. Prints both and the ratio (segctl / reference).

    .venv/bin/python benchmarks/onnx_speed.py [--fixtures DIR] [--runs 30] [--threads N]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def time_onnx(path: Path, x, runs: int, threads: int) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for _ in range(3):
        sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default=str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ultralytics"))
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = ORT default)")
    args = ap.parse_args()
    import numpy as np

    from segctl.export import export
    from segctl.session import Session

    fx = Path(args.fixtures)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "yolov8n-seg-shapes.pt"
        shutil.copy(fx / "yolov8n-seg-shapes.pt", src)
        ours = export(str(src), Session.create(), format="onnx", imgsz=640)
        x = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
        ref_ms = time_onnx(fx / "yolov8n-seg-shapes.onnx", x, args.runs, args.threads)
        our_ms = time_onnx(ours, x, args.runs, args.threads)
        ref_ms2 = time_onnx(fx / "yolov8n-seg-shapes.onnx", x, args.runs, args.threads)  # drift check
    ref = min(ref_ms, ref_ms2)
    print(f"ONNX Runtime CPU, yolov8n-seg 640x640, batch 1, median of {args.runs} runs")
    print(f"  reference ONNX : {ref:8.2f} ms/image  (second pass {ref_ms2:.2f})")
    print(f"  segctl ONNX    : {our_ms:8.2f} ms/image")
    print(f"  ratio segctl/reference: {our_ms / ref:.3f}")


if __name__ == "__main__":
    main()
