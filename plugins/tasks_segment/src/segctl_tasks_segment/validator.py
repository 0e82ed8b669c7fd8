"""The segment validator: COCO-style box and mask AP with masks compared at original resolution.

Protocol (docs/predict.md "Evaluation protocol"): NMS with conf 0.001, IoU 0.7, at most 300
detections, multi-label; predicted boxes mapped back to original image pixels; predicted masks
built at the original resolution (``process_masks_native``) and compared with ground truth
rasterised from the dataset's own polygons/RLE at that resolution; crowd regions ignored. Only
per-prediction arrays (TP flags, confidences, classes) are kept across images, so memory stays
bounded however long the split is.
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from . import progress
from .engine_setup import default_workers, load_split, make_loader, run_dir_for

N_PLOT_BATCHES = 3


class SegmentValidator:
    """Validate during training (``run_training``) or on its own (``run``)."""

    def __init__(self, cfg: dict, session, dataloader=None, index=None, save_dir: Path | None = None,
                 names: dict | None = None):
        self.cfg = dict(cfg)
        self.session = session
        self.loader, self.index = dataloader, index
        self.save_dir = Path(save_dir) if save_dir else None
        self.names = dict(names or {})
        self.conf = 0.001 if cfg.get("conf") is None else float(cfg["conf"])
        self.iou = float(cfg.get("iou") or 0.7)
        self.max_det = int(cfg.get("max_det") or 300)
        self.training = False
        self.jdict: list = []
        self.metrics = None
        self.vloss = None
        self.device = torch.device("cpu")

    # ------------------------------------------------------------------ entry points
    @torch.no_grad()
    def run_training(self, model, criterion=None, epoch: int = 0, final: bool = False):
        """Validate the (EMA) model in memory; returns ``(metrics, val loss items or None)``.

        The val loss (same four items as the training loss) is computed when ``criterion`` is given
        and the model has a ``head``: see :func:`_val_loss_fn`."""
        self.training = not final
        self.device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        infer = _module_infer(model, half=self.device.type == "cuda")
        loss_fn = _val_loss_fn(model, criterion) if criterion is not None and not final else None
        try:
            metrics = self._evaluate(infer, plots=final and bool(self.cfg.get("plots")), verbose=final,
                                     loss_fn=loss_fn)
        finally:
            model.train(was_training)
            if loss_fn is not None:
                loss_fn.remove()
        return metrics, (self.vloss if loss_fn is not None else None)

    @torch.no_grad()
    def run(self):
        """Stand-alone validation of ``cfg["model"]`` (a model, ``.pt`` or exported artifact)."""
        if self.cfg.get("slice"):  # full-size images in tiles (small objects in large images)
            from .slicing_val import run_sliced_val

            return run_sliced_val(self)
        infer = self.setup()
        m = self._evaluate(infer, plots=bool(self.cfg.get("plots")), verbose=True)
        if self.cfg.get("save_json"):
            self._save_json()
        return m

    def setup(self):
        """Everything a stand-alone validation decides before the loop: model (backend), dataset
        split, input size, batch, stride, loader, run folder. Returns ``infer(x)``. Runners reuse it
        (``self.imgsz``, ``self.batch``, ``self.stride``, ``self.index``, ``self.names``)."""
        from .backend_choice import model_source, open_backend
        from .ddp import select_device
        from .trainer import _schema_defaults

        cfg = self.cfg
        src = model_source(cfg)
        if src is None:
            from segctl.errors import UsageError

            raise UsageError("no model given to validate", hint="pass model=best.pt (or an exported artifact)")
        train_args = _stored_train_args(src, self.session)
        defaults = _schema_defaults()
        if not cfg.get("data") and train_args.get("data"):
            cfg["data"] = train_args["data"]
        if cfg.get("imgsz") == defaults.get("imgsz") and train_args.get("imgsz"):
            cfg["imgsz"] = train_args["imgsz"]
        if not cfg.get("data"):
            from segctl.errors import UsageError

            raise UsageError("no dataset to validate on", hint="pass data=path/to/data.yaml")
        self.device = select_device(cfg)
        backend = open_backend(cfg, self.session, self.device)
        self.backend = backend
        from .end2end import configure

        self.end2end = configure(backend, bool(cfg.get("end2end")))  # the model says if it can
        half = bool(cfg.get("half")) and self.device.type == "cuda"
        meta = getattr(backend, "metadata", {}) or {}
        fixed = not meta.get("dynamic", True)
        stride = int(max(backend.stride)) if hasattr(backend.stride, "__iter__") else int(backend.stride or 32)
        imgsz = cfg["imgsz"][0] if isinstance(cfg["imgsz"], list) else int(cfg["imgsz"])
        batch = int(cfg.get("batch") or 16)
        batch = batch if batch > 0 else 16  # batch=-1 (auto) is a training rule; val reads 16
        if fixed:  # static exported graph: square inputs of its own size and batch
            cfg["rect"] = False
            mi = meta.get("imgsz", imgsz)
            imgsz = int(mi[0] if isinstance(mi, (list, tuple)) else mi)
            batch = int(meta.get("batch", 1) or 1)
        else:
            cfg["rect"] = True
        self.data_cfg, fmt = self.session.resolve_data(cfg["data"])
        self.index = load_split(fmt, self.data_cfg, cfg.get("split") or "val", cfg, check_drop=False)
        self.names = dict(backend.names) if getattr(backend, "names", None) else dict(self.index.names)
        self.loader, _ = make_loader(self.index, cfg, imgsz, batch, stride, train=False, rect=bool(cfg["rect"]))
        if self.save_dir is None:
            self.save_dir = run_dir_for(cfg, "val")
        from segctl.runs import write_args

        write_args(self.save_dir, {k: v for k, v in cfg.items() if k not in ("model_object", "model_handle")})
        self.training = False
        self.imgsz, self.batch, self.stride, self.half = imgsz, batch, stride, half

        def infer(x):
            return backend(x.half() if half else x)

        return infer

    # ------------------------------------------------------------------ the loop
    def _evaluate(self, infer, plots: bool, verbose: bool, loss_fn=None):
        from .confusion import ConfusionMatrix
        from .metrics import StatsAccumulator

        nc = len(self.names)
        stats = StatsAccumulator(mask=True)
        cm = ConfusionMatrix(nc=nc, conf=0.25, iou=0.45)
        self.jdict = []
        dt = [0.0, 0.0, 0.0]
        seen = 0
        vloss, nloss = None, 0
        nimg_per_class = np.zeros(max(nc, 1), int)
        bar = progress.epoch_progress(len(self.loader), disable=not self.cfg.get("verbose", True))
        with bar:
            task = bar.add_task(f"{'':>20}{'validating':>12}", total=len(self.loader))
            for bi, batch in enumerate(self.loader):
                t0 = time.perf_counter()
                img = batch["img"].to(self.device, non_blocking=True).float() / 255
                t1 = time.perf_counter()
                out = infer(img)
                if loss_fn is not None:
                    items = loss_fn(batch).float().cpu()
                    vloss, nloss = (items if vloss is None else vloss + items), nloss + 1
                t2 = time.perf_counter()
                dets = self._postprocess(out, nc)
                for si, det in enumerate(dets):
                    seen += 1
                    cls_seen = self._eval_image(si, det, batch, img.shape[2:], stats, cm)
                    nimg_per_class[cls_seen] += 1
                t3 = time.perf_counter()
                dt[0] += t1 - t0
                dt[1] += t2 - t1
                dt[2] += t3 - t2
                if plots and bi < N_PLOT_BATCHES and self.save_dir is not None:
                    _plot_val_batch(batch, dets, self._protos, self.names, self.save_dir, bi)
                bar.update(task, advance=1)
        self.vloss = vloss / nloss if nloss else None
        metrics = reduce_matches(stats, self.names)
        n = max(seen, 1)
        metrics.speed = {"preprocess": dt[0] * 1e3 / n, "inference": dt[1] * 1e3 / n, "loss": 0.0,
                         "postprocess": dt[2] * 1e3 / n}
        metrics.confusion_matrix = cm
        metrics.save_dir = self.save_dir
        self.metrics = metrics
        if self.cfg.get("verbose", True):
            per_class = verbose and nc > 1
            progress.console().print(progress.metrics_table(metrics, self.names, metrics.nt_per_class,
                                                            nimg_per_class, seen, per_class=per_class))
            if verbose:
                progress.console().print(progress.speed_line(metrics.speed))
        if plots and self.save_dir is not None:
            self._plots(metrics, cm)
        if not self.training:
            self.session.emit("on_val_end", validator=self, metrics=metrics)
        return metrics

    def _postprocess(self, out, nc: int):
        from .ops import non_max_suppression

        if isinstance(out, dict):  # end-to-end (nms=True) artifact: already filtered
            raise_e2e()
        pred, proto = (out[0], out[1]) if isinstance(out, (list, tuple)) else (out, None)
        if isinstance(proto, (list, tuple)):  # some graphs return (pred, (feats, mc, proto))
            proto = proto[-1]
        self._protos = proto
        if getattr(self, "end2end", False):  # one-to-one outputs: already final, no NMS
            from .end2end import topk_detections

            return topk_detections(pred, conf=self.conf, max_det=self.max_det, nc=nc)
        return non_max_suppression(pred, conf=self.conf, iou=self.iou, max_det=self.max_det, nc=nc,
                                   multi_label=True, agnostic=bool(self.cfg.get("single_cls")))

    def _eval_image(self, si: int, det, batch, input_shape, stats, cm) -> np.ndarray:
        """Match one image (:func:`match_image`) and add it to the stats, the confusion matrix and
        the COCO JSON; returns the GT classes it holds."""
        rec = self.index.records[int(batch["index"][si])]
        ratio_pad = batch["ratio_pad"][si] if "ratio_pad" in batch else None
        det = det.to(self.device)
        save_json = bool(self.cfg.get("save_json") and not self.training)
        m = match_image(det, self._protos[si], rec, input_shape, ratio_pad, self.device, all_masks=save_json)
        stats.update(**m["stats"])
        cm.process_batch(torch.cat([m["boxes"], det[:, 4:6]], 1).cpu(), m["gt_boxes"].cpu(), m["gt_cls"].cpu())
        if save_json:
            self._to_json(rec, m["boxes"], det, m["masks"])
        return np.unique(m["gt_cls"].cpu().numpy().astype(int))

    # ------------------------------------------------------------------ outputs
    def _plots(self, metrics, cm) -> None:
        try:
            from .plotting import plot_metric_curves

            plot_metric_curves(metrics, self.save_dir, self.names)
            cm.plot(normalize=True, path=self.save_dir / "confusion_matrix_normalized.png", names=self.names)
            cm.plot(normalize=False, path=self.save_dir / "confusion_matrix.png", names=self.names)
        except Exception as e:  # noqa: BLE001 - plots never fail a validation
            warnings.warn(f"validation plots not drawn: {e}", stacklevel=2)

    def _to_json(self, rec, boxes, det, masks) -> None:
        from pycocotools import mask as mask_utils

        image_id = rec.get("image_id", Path(rec["im_file"]).stem)
        if isinstance(image_id, str) and image_id.isdigit():
            image_id = int(image_id)
        cat_ids = getattr(self.index, "cat_ids", None)
        m = masks.cpu().numpy().astype(np.uint8)
        for j in range(len(det)):
            x1, y1, x2, y2 = (float(v) for v in boxes[j])
            c = int(det[j, 5])
            rle = mask_utils.encode(np.asfortranarray(m[j]))
            rle["counts"] = rle["counts"].decode("ascii")
            self.jdict.append({"image_id": image_id, "category_id": int(cat_ids[c]) if cat_ids else c,
                               "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                               "score": round(float(det[j, 4]), 5), "segmentation": rle})

    def _save_json(self) -> None:
        from segctl.io import atomic_write_text

        path = self.save_dir / "predictions.json"
        atomic_write_text(path, json.dumps(self.jdict))
        progress.console().print(f"saved {len(self.jdict)} predictions to {path}")
        ann = _coco_annotation_file(self.data_cfg, self.cfg.get("split") or "val")
        if ann is None or not self.jdict:
            return
        self.coco_stats = coco_eval(ann, path)
        if self.coco_stats:
            self.metrics.coco = self.coco_stats
            progress.console().print("COCOeval: " + ", ".join(f"{k} {v:.4f}" for k, v in self.coco_stats.items()))


# ---------------------------------------------------------------------- the two public steps
# Validation is a per-image step (match one image's detections with its ground truth: small arrays
# of TP flags, confidences and classes) followed by a reduction over all images (AP). Runners that
# spread images over processes or machines run the first where the model is and the second once.


def match_image(det, proto, rec: dict, input_shape, ratio_pad, device, all_masks: bool = False) -> dict:
    """Per-image step: one image's detections against its ground truth at original resolution.

    ``det [n, 6+nm]``: NMS output in input pixels (xyxy, conf, cls, mask coefficients); ``proto
    [nm, h, w]``; ``rec``: the dataset record; ``input_shape``: the letterboxed (h, w);
    ``ratio_pad``: the letterbox parameters (batch contract). Returns ``{"stats": ...}`` for
    :meth:`StatsAccumulator.update` plus ``boxes`` (original pixels), ``masks`` (bool [n, H0, W0];
    with ``all_masks=False`` only predictions that can match anything get their mask built, the
    rest stay empty), ``gt_boxes`` and ``gt_cls``."""
    from .boxes import box_iou, scale_boxes
    from .masks_ops import process_masks_native
    from .metrics import evaluate_image

    h0, w0 = (int(v) for v in rec["shape"])
    gt_cls, gt_boxes, gt_masks, crowd_boxes, crowd_masks = _ground_truth(rec, h0, w0, device)
    det = det.to(device)
    boxes = scale_boxes(tuple(input_shape), det[:, :4].clone().float(), (h0, w0), ratio_pad=ratio_pad)
    proto = proto.to(device)
    need = torch.ones(len(det), dtype=torch.bool, device=device)
    if not all_masks:
        # a mask inside a box that touches no ground-truth box of its class (or crowd region)
        # can match nothing: only those predictions need their full-resolution mask built
        gtb = gt_boxes.reshape(-1, 4).float().to(device)
        same = gt_cls.view(1, -1).to(device) == det[:, 5:6]
        need = ((box_iou(boxes, gtb) > 0) & same).any(1) if len(gtb) else torch.zeros_like(need)
        if crowd_boxes is not None and len(crowd_boxes):
            need |= (box_iou(boxes, crowd_boxes.reshape(-1, 4).float().to(device)) > 0).any(1)
    masks = torch.zeros((len(det), h0, w0), dtype=torch.bool, device=device)
    if need.any():
        masks[need] = process_masks_native(proto, det[need, 6:], boxes[need], (h0, w0),
                                           ratio_pad=ratio_pad, input_shape=tuple(input_shape))
    stats = evaluate_image(boxes, det[:, 4], det[:, 5], gt_boxes, gt_cls, masks, gt_masks,
                           crowd_boxes, crowd_masks)
    return {"stats": stats, "boxes": boxes, "masks": masks, "gt_boxes": gt_boxes, "gt_cls": gt_cls}


def reduce_matches(stats, names: dict):
    """Reduction step: the per-image matches of every image (a :class:`StatsAccumulator`, or its
    ``result()`` arrays) → :class:`SegmentMetrics` with box and mask AP."""
    from .metrics import SegmentMetrics

    metrics = SegmentMetrics(names)
    metrics.process(**(stats.result() if hasattr(stats, "result") else stats))
    return metrics


def raise_e2e():
    from segctl.errors import UsageError

    raise UsageError("this artifact was exported with nms=True; validation needs the raw outputs",
                     hint="export again without nms=True for val, or use it for predict")


def coco_eval(ann_file, pred_file) -> dict:
    """pycocotools COCOeval for boxes and masks; returns ``{"bbox_mAP50-95": .., "bbox_mAP50": .., ...}``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(ann_file))
    dt = gt.loadRes(str(pred_file))
    out = {}
    for kind in ("bbox", "segm"):
        e = COCOeval(gt, dt, kind)
        e.params.imgIds = sorted({d["image_id"] for d in dt.dataset["annotations"]} | set(gt.getImgIds()))
        e.evaluate()
        e.accumulate()
        e.summarize()
        out[f"{kind}_mAP50-95"], out[f"{kind}_mAP50"] = float(e.stats[0]), float(e.stats[1])
    return out


def _coco_annotation_file(data_cfg: dict, split: str):
    if data_cfg.get("format") != "coco":
        return None
    entry = data_cfg.get(split)
    if isinstance(entry, dict):
        entry = entry.get("json")
    if isinstance(entry, str) and entry.endswith(".json"):
        p = Path(entry)
        if not p.is_absolute() and data_cfg.get("path"):
            p = Path(data_cfg["path"]) / p
        return p if p.exists() else None
    return None


def _ground_truth(rec: dict, h: int, w: int, device):
    """(cls, xyxy boxes, masks [m,h,w]) of usable GT plus crowd boxes/masks, at original resolution."""
    from .masks_ops import polygons2mask

    cls = torch.as_tensor(np.asarray(rec["cls"]).reshape(-1), dtype=torch.int64)
    b = torch.as_tensor(np.asarray(rec["bboxes"], np.float32).reshape(-1, 4))
    boxes = torch.stack([(b[:, 0] - b[:, 2] / 2) * w, (b[:, 1] - b[:, 3] / 2) * h,
                         (b[:, 0] + b[:, 2] / 2) * w, (b[:, 1] + b[:, 3] / 2) * h], 1) if len(b) else torch.zeros(0, 4)
    n = len(cls)
    rles = rec.get("rle") or [None] * n
    segs = rec.get("segments") or [None] * n
    masks = np.zeros((n, h, w), np.uint8)
    for j in range(n):
        if j < len(rles) and rles[j] is not None:
            from pycocotools import mask as mask_utils

            r = dict(rles[j])
            if isinstance(r.get("counts"), list):
                r = mask_utils.frPyObjects(r, r["size"][0], r["size"][1])
            m = mask_utils.decode(r)
            masks[j] = m if m.shape == (h, w) else _resize_nn(m, h, w)
        elif j < len(segs) and segs[j] is not None and len(segs[j]):
            masks[j] = polygons2mask([np.asarray(segs[j], np.float32) * np.array([w, h], np.float32)], (h, w))
    crowd = np.asarray(rec.get("iscrowd") if rec.get("iscrowd") is not None else np.zeros(n, bool), bool).reshape(-1)
    crowd = crowd if len(crowd) == n else np.zeros(n, bool)
    keep = torch.as_tensor(~crowd)
    cr = torch.as_tensor(crowd)
    mt = torch.from_numpy(masks).to(device)
    crowd_boxes = boxes[cr].to(device) if cr.any() else None
    crowd_masks = mt[cr.to(device)] if cr.any() else None
    return cls[keep].to(device), boxes[keep].to(device), mt[keep.to(device)], crowd_boxes, crowd_masks


def _resize_nn(m, h, w):
    import cv2

    return cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)


def _module_infer(model, half: bool = False):
    """Eval-mode forward of an in-memory model, returning ``(pred, proto)`` per docs/contracts.md."""
    def infer(x):
        with torch.autocast(device_type=x.device.type, enabled=half):
            out = model(x)
        if isinstance(out, (list, tuple)) and len(out) == 2:
            return out[0].float(), (out[1][-1] if isinstance(out[1], (list, tuple)) else out[1]).float()
        return out
    return infer


def _to_float(raw):
    """fp32 copy of a head's training output: tensors, lists/tuples and dicts of them."""
    if isinstance(raw, dict):
        return {k: _to_float(v) for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return type(raw)(_to_float(r) for r in raw)
    return raw.float() if isinstance(raw, torch.Tensor) else raw


def _val_loss_fn(model, criterion):
    """``loss_fn(batch) -> loss items`` for the batch just run through ``model`` in eval mode, or None.

    Why this way: the eval forward returns decoded boxes, not the raw per-scale outputs the loss
    needs. A pre-hook keeps the head's input features, and the head alone is run again on them with
    only its own ``training`` flag set (so it returns training-format outputs) while every
    BatchNorm below stays in eval mode — the EMA weights' running statistics are never touched and
    the backbone is not run twice. ``loss_fn.remove()`` drops the hook."""
    head = getattr(model, "head", None)
    if head is None:
        return None
    feats: dict = {}
    handle = head.register_forward_pre_hook(lambda module, args: feats.__setitem__("x", args[0]))

    def loss_fn(batch):
        head.training = True  # the flag of the head module only, not of its children
        try:
            raw = head(list(feats["x"]))
        finally:
            head.training = False
        raw = _to_float(raw)
        return criterion(raw, batch)[1]

    loss_fn.remove = handle.remove
    return loss_fn


def _stored_train_args(src, session) -> dict:
    """``train_args`` of a segctl checkpoint (empty for other sources); a facade handle gives its
    already-loaded checkpoint."""
    if hasattr(src, "checkpoint") and hasattr(src, "source"):
        return dict(src.checkpoint.get("train_args") or {})
    if isinstance(src, torch.nn.Module) or not str(src).endswith((".pt", ".pth", ".safetensors")):
        return dict(getattr(src, "args", {}) or {}) if isinstance(src, torch.nn.Module) else {}
    try:
        from segctl.nn.checkpoint import load_checkpoint

        return dict(load_checkpoint(str(src), session=session).get("train_args") or {})
    except Exception:  # noqa: BLE001 - the backend load reports unreadable files properly
        return {}


def _plot_val_batch(batch, dets, protos, names, save_dir: Path, bi: int) -> None:
    """``val_batch{i}_labels.jpg`` (B's batch plot) and ``val_batch{i}_pred.jpg`` (predictions on the
    letterboxed inputs, tiled)."""
    try:
        from .data import plots

        plots.plot_batch(batch, names, save_dir / f"val_batch{bi}_labels.jpg")
    except Exception as e:  # noqa: BLE001
        warnings.warn(f"val_batch{bi}_labels.jpg not drawn: {e}", stacklevel=2)
    try:
        import cv2

        from .annotate import color, draw_box_label, draw_masks
        from .masks_ops import process_masks

        tiles = []
        imgs = batch["img"][:16]
        for i in range(len(imgs)):
            im = np.ascontiguousarray(imgs[i].permute(1, 2, 0).cpu().numpy()[..., ::-1])
            d = dets[i][dets[i][:, 4] > 0.25][:50]
            if len(d) and protos is not None:
                m = process_masks(protos[i], d[:, 6:], d[:, :4], im.shape[:2]).cpu().numpy()
                im = draw_masks(im, m, [color(int(c)) for c in d[:, 5]])
            for row in d:
                c = int(row[5])
                im = draw_box_label(im, row[:4].tolist(), f"{names.get(c, c)} {float(row[4]):.2f}", color(c), 1)
            tiles.append(im)
        n = len(tiles)
        cols = int(np.ceil(np.sqrt(n)))
        rows = int(np.ceil(n / cols))
        h = max(t.shape[0] for t in tiles)
        w = max(t.shape[1] for t in tiles)
        canvas = np.full((rows * h, cols * w, 3), 255, np.uint8)
        for k, t in enumerate(tiles):
            r, c = divmod(k, cols)
            canvas[r * h:r * h + t.shape[0], c * w:c * w + t.shape[1]] = t
        cv2.imwrite(str(save_dir / f"val_batch{bi}_pred.jpg"), canvas)
    except Exception as e:  # noqa: BLE001
        warnings.warn(f"val_batch{bi}_pred.jpg not drawn: {e}", stacklevel=2)


__all__ = ["SegmentValidator", "coco_eval", "default_workers", "match_image", "reduce_matches"]
