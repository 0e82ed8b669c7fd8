"""Print parameters and GFLOPs (unfused and fused) of the ten registered YOLOv8 models.

Usage: python benchmarks/model_info.py [--imgsz 640] [--models yolov8n-seg,yolov8n]

GFLOPs are measured with torch.utils.flop_counter on one 1x3xIMGSZxIMGSZ forward (2 FLOPs per
multiply-accumulate). Detect figures match the published ones; published -seg figures are ~5 %
higher because the counter used for them charges the prototype's stride-2 transposed conv per
*output* pixel (4x its real work). See docs/models.md.
"""
from __future__ import annotations

import argparse
import time

PUBLISHED = {  # parameters (M) and GFLOPs at 640 from the published YOLOv8 tables
    "yolov8n-seg": (3.4, 12.6), "yolov8s-seg": (11.8, 42.6), "yolov8m-seg": (27.3, 110.2),
    "yolov8l-seg": (46.0, 220.5), "yolov8x-seg": (71.8, 344.1),
    "yolov8n": (3.2, 8.7), "yolov8s": (11.2, 28.6), "yolov8m": (25.9, 78.9),
    "yolov8l": (43.7, 165.2), "yolov8x": (68.2, 257.8),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--models", default=",".join(PUBLISHED))
    args = ap.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from segctl.nn import build_from_session
    from segctl.session import Session

    torch.set_grad_enabled(False)
    session = Session.create(only=("yolov8",))
    table = Table(title=f"YOLOv8 models at imgsz={args.imgsz} (nc=80)")
    for col in ("model", "params", "published params (M)", "GFLOPs", "GFLOPs fused", "published GFLOPs", "build s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name in args.models.split(","):
        t0 = time.perf_counter()
        model = build_from_session(name, session)
        built = time.perf_counter() - t0
        info = model.info(imgsz=args.imgsz, verbose=False)
        fused = model.fuse().info(imgsz=args.imgsz, verbose=False)
        pub = PUBLISHED.get(name, (float("nan"), float("nan")))
        table.add_row(name, f"{info['params']:,}", f"{pub[0]:.1f}", f"{info['gflops']:.1f}", f"{fused['gflops']:.1f}",
                      f"{pub[1]:.1f}", f"{built:.2f}")
    Console(width=130).print(table)


if __name__ == "__main__":
    main()
