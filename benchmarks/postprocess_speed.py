"""Post-processing speed: NMS + mask assembly for one 640x640 image (8400 candidates, ~40 objects).

Compares segctl's vectorised path (batched NMS kernel, one matmul + one upsample for all masks)
with a naive baseline measured in the same run (greedy NMS in Python, one mask at a time), and
prints the ratio. Usage: python benchmarks/postprocess_speed.py [--device cpu|cuda] [--reps N]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from segctl_tasks_segment.boxes import box_iou, xywh2xyxy
from segctl_tasks_segment.masks_ops import process_masks
from segctl_tasks_segment.ops import non_max_suppression


def make_inputs(device, nc=80, nm=32, n_obj=40, seed=0):
    """Raw head output with ``n_obj`` objects, each seen by ~12 overlapping candidates."""
    g = torch.Generator().manual_seed(seed)
    N = 8400
    pred = torch.zeros(4 + nc + nm, N)
    pred[0:2] = torch.rand(2, N, generator=g) * 640
    pred[2:4] = torch.rand(2, N, generator=g) * 60 + 10
    pred[4:4 + nc] = torch.rand(nc, N, generator=g) * 0.05  # background noise below conf
    pred[4 + nc:] = torch.randn(nm, N, generator=g)
    centres = torch.rand(n_obj, 2, generator=g) * 560 + 40
    sizes = torch.rand(n_obj, 2, generator=g) * 120 + 20
    cls = torch.randint(0, nc, (n_obj,), generator=g)
    idx = torch.randperm(N, generator=g)[: n_obj * 12].view(n_obj, 12)
    for k in range(n_obj):  # building the fixture only; not timed
        pred[0:2, idx[k]] = centres[k, :, None] + torch.randn(2, 12, generator=g) * 1.5
        pred[2:4, idx[k]] = sizes[k, :, None] * (1 + torch.randn(2, 12, generator=g) * 0.02)
        pred[4 + cls[k], idx[k]] = 0.5 + torch.rand(12, generator=g) * 0.45
    protos = torch.randn(nm, 160, 160, generator=g)
    return pred[None].to(device), protos.to(device)


def vectorised(pred, protos, nc=80):
    det = non_max_suppression(pred, conf=0.25, iou=0.7, nc=nc)[0]
    masks = process_masks(protos, det[:, 6:], det[:, :4], (640, 640))
    return det, masks


def naive(pred, protos, nc=80, conf=0.25, iou_thr=0.7):
    """Per-instance reference: Python greedy NMS per class and one mask at a time."""
    x = pred[0].T
    scores, cls = x[:, 4:4 + nc].max(1)
    x = x[scores > conf]
    scores, cls = scores[scores > conf], cls[scores > conf]
    boxes = xywh2xyxy(x[:, :4])
    order = scores.argsort(descending=True).tolist()
    keep = []
    for i in order:
        if all(cls[j] != cls[i] or box_iou(boxes[i:i + 1], boxes[j:j + 1])[0, 0] <= iou_thr for j in keep):
            keep.append(i)
    masks = []
    for i in keep:
        m = (x[i, 4 + nc:] @ protos.view(protos.shape[0], -1)).sigmoid().view(1, 1, 160, 160)
        m = F.interpolate(m, (640, 640), mode="bilinear", align_corners=False)[0, 0]
        x1, y1, x2, y2 = boxes[i].tolist()
        crop = torch.zeros_like(m, dtype=torch.bool)
        crop[max(int(y1), 0):max(int(y2), 0), max(int(x1), 0):max(int(x2), 0)] = True
        masks.append((m > 0.5) & crop)
    return keep, torch.stack(masks) if masks else torch.zeros(0, 640, 640, dtype=torch.bool)


def timeit(fn, reps, device):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--reps", type=int, default=10)
    a = ap.parse_args()
    pred, protos = make_inputs(a.device)
    det, masks = vectorised(pred, protos)
    keep, nmasks = naive(pred, protos)
    agree = len(keep) == len(det)
    if agree and len(det):
        inter = (masks & nmasks).flatten(1).sum(1).float()
        union = (masks | nmasks).flatten(1).sum(1).float().clamp(min=1)
        agree = bool((inter / union).mean() > 0.95)
    tv = timeit(lambda: vectorised(pred, protos), a.reps, a.device)
    tn = timeit(lambda: naive(pred, protos), max(2, a.reps // 3), a.device)
    print(f"device={a.device} torch={torch.__version__} threads={torch.get_num_threads()}")
    print(f"candidates=8400 above_conf={int((pred[0, 4:84].amax(0) > 0.25).sum())} detections={len(det)}"
          f" (naive {len(keep)}, results agree: {agree})")
    print(f"vectorised NMS+masks: {tv:8.2f} ms (median of {a.reps})")
    print(f"naive loop baseline:  {tn:8.2f} ms")
    print(f"speed-up: {tn / tv:.1f}x")


if __name__ == "__main__":
    main()
