"""Validation metrics: per-image matching, bounded accumulation, and the ``Metric`` objects the
facade returns (``metrics.box.map``, ``metrics.seg.maps`` ...).

Typical validator use::

    stats = StatsAccumulator(mask=True)
    for each image:
        stats.update(**evaluate_image(pred_boxes, pred_conf, pred_cls, gt_boxes, gt_cls,
                                      pred_masks, gt_masks, crowd_boxes, crowd_masks))
    m = SegmentMetrics(names); m.process(**stats.result())
"""
from __future__ import annotations

import numpy as np
import torch

from .ap import IOUV, ap_per_class, match_predictions
from .boxes import box_ioa, box_iou
from .confusion import ConfusionMatrix  # noqa: F401  (re-exported: part of the metrics API)
from .masks_ops import mask_ioa, mask_iou


def _crowd_ignore(correct, ioa, iouv):
    """Predictions that are not TP at a threshold but cover a crowd region by >= that threshold."""
    if ioa is None or ioa.numel() == 0:
        return torch.zeros_like(correct)
    cover = ioa.amax(1)  # [n]
    return (cover[:, None] >= iouv.to(cover.device)[None]) & ~correct


def evaluate_image(pred_boxes, pred_conf, pred_cls, gt_boxes, gt_cls, pred_masks=None, gt_masks=None,
                   crowd_boxes=None, crowd_masks=None, iouv=IOUV):
    """Match one image's predictions to its GT (boxes, and masks if given).

    Boxes are xyxy in one coordinate frame; masks are ``[n, H, W]``/``[m, H, W]`` binary at one
    common resolution. ``crowd_*`` are iscrowd/ignore regions: a prediction covering one by at
    least the threshold (intersection over the prediction's area) is ignored, not a false positive.
    Returns a dict for :meth:`StatsAccumulator.update` (all CPU tensors).
    """
    iouv = torch.as_tensor(iouv, dtype=torch.float32)
    pred_cls = torch.as_tensor(pred_cls).view(-1)
    gt_cls = torch.as_tensor(gt_cls).view(-1)
    n = pred_cls.numel()
    out = dict(conf=torch.as_tensor(pred_conf).view(-1).float().cpu(), pred_cls=pred_cls.cpu(),
               target_cls=gt_cls.cpu())
    iou_b = box_iou(gt_boxes.float(), pred_boxes.float()) if n and len(gt_boxes) else torch.zeros(len(gt_boxes), n)
    out["tp"] = match_predictions(pred_cls, gt_cls, iou_b, iouv, conf=out["conf"]).cpu()
    ioa_b = box_ioa(pred_boxes.float(), crowd_boxes.float()) if crowd_boxes is not None and n else None
    out["ignore"] = _crowd_ignore(out["tp"], ioa_b, iouv).cpu()
    if pred_masks is not None:
        pm = pred_masks.flatten(1)
        gm = gt_masks.flatten(1) if gt_masks is not None else pm.new_zeros((0, pm.shape[1]))
        iou_m = torch.zeros(len(gm), n, device=pm.device)
        # a prediction can only be a mask TP for a GT of its class whose box its own box overlaps
        # (both masks lie inside their boxes): the pixel-level IoU is computed for those columns only
        cand = ((iou_b > 0) & (gt_cls.view(-1, 1).to(pred_cls.device) == pred_cls.view(1, -1))).any(0) \
            if n and len(gm) else torch.zeros(n, dtype=torch.bool)
        if cand.any():
            iou_m[:, cand.to(pm.device)] = mask_iou(gm, pm[cand.to(pm.device)])
        out["tp_m"] = match_predictions(pred_cls, gt_cls, iou_m, iouv, conf=out["conf"]).cpu()
        ioa_m = None
        if crowd_masks is not None and n and len(crowd_masks):
            ioa_m = mask_ioa(pm, crowd_masks.flatten(1))
        out["ignore_m"] = _crowd_ignore(out["tp_m"], ioa_m, iouv).cpu()
    return out


class StatsAccumulator:
    """Collects the per-prediction arrays of every image (never masks or boxes)."""

    KEYS = ("tp", "tp_m", "ignore", "ignore_m", "conf", "pred_cls", "target_cls")

    def __init__(self, mask: bool = True):
        self.mask = mask
        self.parts = {k: [] for k in self.KEYS}

    def update(self, tp, conf, pred_cls, target_cls, tp_m=None, ignore=None, ignore_m=None):
        n = len(conf)
        tp = torch.as_tensor(tp).bool().cpu()
        self.parts["tp"].append(tp)
        self.parts["ignore"].append(torch.zeros_like(tp) if ignore is None else torch.as_tensor(ignore).cpu())
        if self.mask:
            tpm = torch.zeros_like(tp) if tp_m is None else torch.as_tensor(tp_m).bool().cpu()
            self.parts["tp_m"].append(tpm)
            self.parts["ignore_m"].append(torch.zeros_like(tpm) if ignore_m is None else torch.as_tensor(ignore_m).cpu())
        self.parts["conf"].append(torch.as_tensor(conf).float().view(n).cpu())
        self.parts["pred_cls"].append(torch.as_tensor(pred_cls).view(n).cpu())
        self.parts["target_cls"].append(torch.as_tensor(target_cls).view(-1).cpu())

    def result(self) -> dict:
        """Concatenated numpy arrays, ready for ``SegmentMetrics.process(**result)``."""
        out = {}
        for k, v in self.parts.items():
            if k in ("tp_m", "ignore_m") and not self.mask:
                continue
            if not v:
                out[k] = np.zeros((0, 10), bool) if k in ("tp", "tp_m", "ignore", "ignore_m") else np.zeros(0)
            else:
                out[k] = torch.cat(v, 0).numpy()
        return out


class Metric:
    """AP results of one kind (boxes or masks) over all classes."""

    def __init__(self, nc: int = 0):
        self.nc = nc
        self.p = self.r = self.f1 = np.zeros(0)
        self.all_ap = np.zeros((0, 10))
        self.ap_class_index = np.zeros(0, int)
        self.curves_data: dict = {}

    def update(self, res: dict):
        self.p, self.r, self.f1, self.all_ap = res["p"], res["r"], res["f1"], res["ap"]
        self.ap_class_index = res["classes"]
        self.curves_data = {k: res[k] for k in ("px", "prec", "p_curve", "r_curve", "f1_curve")}

    @property
    def ap50(self) -> np.ndarray:
        return self.all_ap[:, 0] if len(self.all_ap) else np.zeros(0)

    @property
    def ap(self) -> np.ndarray:
        return self.all_ap.mean(1) if len(self.all_ap) else np.zeros(0)

    mp = property(lambda self: float(self.p.mean()) if len(self.p) else 0.0)
    mr = property(lambda self: float(self.r.mean()) if len(self.r) else 0.0)
    map50 = property(lambda self: float(self.all_ap[:, 0].mean()) if len(self.all_ap) else 0.0)
    map75 = property(lambda self: float(self.all_ap[:, 5].mean()) if len(self.all_ap) else 0.0)
    map = property(lambda self: float(self.all_ap.mean()) if len(self.all_ap) else 0.0)

    @property
    def maps(self) -> np.ndarray:
        """mAP50-95 per class id; classes without GT get the overall mean."""
        out = np.full(max(self.nc, int(self.ap_class_index.max()) + 1 if len(self.ap_class_index) else 0),
                      self.map)
        out[self.ap_class_index] = self.ap
        return out

    def mean_results(self) -> list:
        return [self.mp, self.mr, self.map50, self.map]

    def class_result(self, i: int) -> tuple:
        """(p, r, ap50, ap50-95) of the i-th class *with GT* (index into ``ap_class_index``)."""
        return float(self.p[i]), float(self.r[i]), float(self.ap50[i]), float(self.ap[i])

    def fitness(self) -> float:
        return 0.1 * self.map50 + 0.9 * self.map


class DetMetrics:
    """Box metrics only (detect models)."""

    suffixes = ("B",)

    def __init__(self, names: dict | None = None):
        self.names = dict(names or {})
        self.box = Metric(len(self.names))
        self.speed = {"preprocess": 0.0, "inference": 0.0, "loss": 0.0, "postprocess": 0.0}
        self.nt_per_class = np.zeros(len(self.names), int)

    def _kinds(self):
        return [("B", self.box, "tp", "ignore")]

    def process(self, tp, conf, pred_cls, target_cls, ignore=None, tp_m=None, ignore_m=None, **_):
        """Compute AP from accumulated arrays (see :class:`StatsAccumulator`)."""
        arrays = {"tp": tp, "ignore": ignore, "tp_m": tp_m, "ignore_m": ignore_m}
        for _suffix, metric, tkey, ikey in self._kinds():
            metric.update(ap_per_class(arrays[tkey], conf, pred_cls, target_cls, ignore=arrays[ikey]))
        tc = np.asarray(target_cls, int)
        self.nt_per_class = np.bincount(tc, minlength=len(self.names)) if tc.size else np.zeros(len(self.names), int)
        return self

    @property
    def keys(self) -> list:
        return [f"metrics/{k}({s})" for s, *_ in self._kinds() for k in ("precision", "recall", "mAP50", "mAP50-95")]

    def mean_results(self) -> list:
        return [v for _, m, *_ in self._kinds() for v in m.mean_results()]

    @property
    def fitness(self) -> float:
        return float(sum(m.fitness() for _, m, *_ in self._kinds()))

    @property
    def maps(self) -> np.ndarray:
        return sum(m.maps for _, m, *_ in self._kinds())

    @property
    def results_dict(self) -> dict:
        return {**dict(zip(self.keys, map(float, self.mean_results()))), "fitness": self.fitness}

    def class_result(self, i: int) -> list:
        return [v for _, m, *_ in self._kinds() for v in m.class_result(i)]

    @property
    def ap_class_index(self) -> np.ndarray:
        return self.box.ap_class_index


class SegmentMetrics(DetMetrics):
    """Box and mask metrics; fitness sums both (0.1 mAP50 + 0.9 mAP50-95 each)."""

    suffixes = ("B", "M")

    def __init__(self, names: dict | None = None):
        super().__init__(names)
        self.seg = Metric(len(self.names))

    def _kinds(self):
        return [("B", self.box, "tp", "ignore"), ("M", self.seg, "tp_m", "ignore_m")]
