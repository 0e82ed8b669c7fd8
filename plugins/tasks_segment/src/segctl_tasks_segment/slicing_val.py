"""``val slice=...``: the same metrics as ``val``, computed on full-size images predicted in tiles.

Why a loop of its own: ordinary validation letterboxes whole images to ``imgsz`` in a data loader;
sliced validation must see each image at its original resolution, cut it into tiles and merge the
tiles' detections (:mod:`.slicing`) before matching them with the ground truth at full size. The
matching (:func:`.metrics.evaluate_image`) and the reduction to box/mask AP are the ones ``val``
uses, so the numbers compare directly with an unsliced run on the same split.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from . import progress


def run_sliced_val(validator):
    """Validate ``validator.cfg["model"]`` with slicing; returns the metrics object ``val`` returns."""
    from .metrics import StatsAccumulator, evaluate_image
    from .predictor import SegmentPredictor
    from .slicing import predict_instances
    from .sources import read_image
    from .validator import _ground_truth, reduce_matches

    validator.setup()  # dataset split, names, run folder (its loader is not used)
    cfg = validator.cfg
    pcfg = dict(cfg, conf=validator.conf, verbose=False, save=False, imgsz=validator.imgsz)
    predictor = SegmentPredictor(pcfg, validator.session)
    names, dev = validator.names, torch.device("cpu")
    stats = StatsAccumulator(mask=True)
    nimg_per_class = np.zeros(max(len(names), 1), int)
    dt, seen = [0.0, 0.0, 0.0], 0
    records = validator.index.records
    verbose = cfg.get("verbose", True)
    bar = progress.epoch_progress(len(records), disable=not verbose)
    with bar:
        task = bar.add_task(f"{'':>20}{'validating (sliced)':>12}", total=len(records))
        for rec in records:
            img = read_image(rec["im_file"])
            h0, w0 = img.shape[:2]
            insts = predict_instances(predictor, img, dt)
            t0 = time.perf_counter()
            gt_cls, gt_boxes, gt_masks, crowd_boxes, crowd_masks = _ground_truth(rec, h0, w0, dev)
            boxes = torch.tensor([p.box for p in insts], dtype=torch.float32).reshape(-1, 4)
            conf = torch.tensor([p.score for p in insts], dtype=torch.float32)
            cls = torch.tensor([p.cls for p in insts], dtype=torch.float32)
            masks = torch.zeros((len(insts), h0, w0), dtype=torch.bool)
            for k, p in enumerate(insts):
                masks[k, p.rect[1]:p.rect[3], p.rect[0]:p.rect[2]] = torch.from_numpy(p.mask)
            stats.update(**evaluate_image(boxes, conf, cls, gt_boxes, gt_cls, masks, gt_masks,
                                          crowd_boxes, crowd_masks))
            nimg_per_class[np.unique(gt_cls.numpy().astype(int))] += 1
            dt[2] += time.perf_counter() - t0
            seen += 1
            bar.update(task, advance=1)
    metrics = reduce_matches(stats, names)
    n = max(seen, 1)
    metrics.speed = {"preprocess": dt[0] * 1e3 / n, "inference": dt[1] * 1e3 / n, "loss": 0.0,
                     "postprocess": dt[2] * 1e3 / n}
    metrics.save_dir = validator.save_dir
    validator.metrics = metrics
    if verbose:
        progress.console().print(progress.metrics_table(metrics, names, metrics.nt_per_class, nimg_per_class, seen,
                                                        per_class=len(names) > 1))
        progress.console().print(progress.speed_line(metrics.speed) + " (per full image, all tiles)")
    validator.session.emit("on_val_end", validator=validator, metrics=metrics)
    return metrics
