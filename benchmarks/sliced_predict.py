"""Sliced vs whole-image predict on large images with small objects (issue 22).

Builds a "large image, small objects" set from the fixture images (``--grid`` × ``--grid`` labelled
320 px images per canvas, :func:`segctl_tasks_segment.slicing_demo.make_canvas_set`), then for the
whole image letterboxed to ``--imgsz`` and for ``slice=--tile`` reports:

  * small-object recall: share of ground-truth objects matched by a prediction with mask IoU ≥ 0.5
    (same class, and class-agnostic -- the fixture model confuses similar shapes);
  * time per image and ms per megapixel, with the number of tiles;
  * with ``--val``: mask/box mAP50-95 of ``val`` both ways.

It writes the annotated sliced prediction of the first canvas to ``--out`` (look at it).

    python benchmarks/sliced_predict.py [--grid 3] [--images 2] [--tile 320] [--overlap 0.25] [--conf 0.05] [--val]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ultralytics"


def gt_masks(label: Path, h: int, w: int):
    import cv2

    cls, masks = [], []
    for line in label.read_text().splitlines():
        v = line.split()
        if len(v) < 7:
            continue
        poly = (np.asarray(v[1:], np.float64).reshape(-1, 2) * (w, h)).round().astype(np.int32)
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [poly], 1)
        cls.append(int(v[0]))
        masks.append(m.astype(bool))
    return np.array(cls), np.array(masks)


def recall(r, cls, gms) -> tuple[int, int]:
    """(class-aware hits, class-agnostic hits) at mask IoU >= 0.5."""
    if not len(r):
        return 0, 0
    pm = r.masks.at_orig().reshape(len(r), -1).astype(np.float32)
    g = gms.reshape(len(gms), -1).astype(np.float32)
    inter = g @ pm.T
    iou = inter / (g.sum(1)[:, None] + pm.sum(1)[None] - inter + 1e-9)
    pc = r.boxes.cls.numpy().astype(int)
    return int(((iou >= 0.5) & (cls[:, None] == pc[None])).any(1).sum()), int((iou >= 0.5).any(1).sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(FIXTURES / "yolov8n-seg-shapes.pt"))
    ap.add_argument("--grid", type=int, default=3)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--tile", type=int, default=320)
    ap.add_argument("--overlap", type=float, default=0.25)
    ap.add_argument("--conf", type=float, default=0.05)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--val", action="store_true")
    ap.add_argument("--out", default="sliced_predict.jpg")
    args = ap.parse_args()

    import cv2
    from rich.console import Console
    from rich.table import Table

    from segctl import YOLO
    from segctl_tasks_segment.slicing import tile_grid
    from segctl_tasks_segment.slicing_demo import make_canvas_set

    model = YOLO(args.model)
    tmp = Path(tempfile.mkdtemp(prefix="sliced_bench_"))
    yaml = make_canvas_set(FIXTURES / "images", tmp / "big", dict(model.names), grid=args.grid, n_images=args.images)
    ims = sorted((tmp / "big" / "images").glob("*.jpg"))
    kw = dict(imgsz=args.imgsz, conf=args.conf, verbose=False, backend=args.backend, batch=args.batch)
    modes = {"whole image": {}, f"slice={args.tile} overlap={args.overlap}": dict(slice=args.tile, slice_overlap=args.overlap)}
    table = Table(title=f"{len(ims)} canvases of {args.grid}x{args.grid} fixture images, imgsz {args.imgsz}")
    for c in ("mode", "tiles", "objects", "recall (class)", "recall (any class)", "s / image", "ms / MP"):
        table.add_column(c, justify="right")
    for name, extra in modes.items():
        model(str(ims[0]), **kw, **extra)  # warm-up (backend built, caches filled)
        hits = [0, 0]
        n_obj, t_total, mp = 0, 0.0, 0.0
        for p in ims:
            im = cv2.imread(str(p))
            h, w = im.shape[:2]
            cls, gms = gt_masks(p.parent.parent / "labels" / (p.stem + ".txt"), h, w)
            t0 = time.perf_counter()
            (r,) = model(im, **kw, **extra)
            t_total += time.perf_counter() - t0
            mp += h * w / 1e6
            a, b = recall(r, cls, gms)
            hits[0] += a
            hits[1] += b
            n_obj += len(cls)
            if p == ims[0] and extra:
                cv2.imwrite(args.out, r.plot(line_width=1))
        tiles = len(tile_grid(h, w, args.tile, args.tile, args.overlap)) if extra else 1
        table.add_row(name, str(tiles), str(n_obj), f"{hits[0] / n_obj:.3f}", f"{hits[1] / n_obj:.3f}",
                      f"{t_total / len(ims):.2f}", f"{t_total * 1e3 / mp:.0f}")
    console = Console()
    console.print(table)
    console.print(f"annotated sliced prediction: {args.out}")
    if args.val:
        vt = Table(title="val (mask and box mAP) on the same canvases")
        for c in ("mode", "mask mAP50-95", "mask mAP50", "box mAP50-95", "ms / image"):
            vt.add_column(c, justify="right")
        for name, extra in modes.items():
            m = model.val(data=str(yaml), imgsz=args.imgsz, conf=0.01, batch=4, backend=args.backend, plots=False,
                          verbose=False, workers=0, project=str(tmp / "runs"), **extra)
            ms = sum(m.speed[k] for k in ("preprocess", "inference", "postprocess"))
            vt.add_row(name, f"{m.seg.map:.3f}", f"{m.seg.map50:.3f}", f"{m.box.map:.3f}", f"{ms:.0f}")
        console.print(vt)


if __name__ == "__main__":
    main()
