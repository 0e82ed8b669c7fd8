"""Runner jobs of the segment task: predict and val cut into independent items, for runners that
execute them elsewhere (``runner=ray``). The contract is :class:`segctl.runners.RunnerJob`.

Why built on the engines' own pieces: a runner must give the same answers as ``runner=local``. The
predict job letterboxes with :func:`data.augment.letterbox_image` (as the predictor does) on the CPU side and runs the
predictor's backend call and ``postprocess`` in the worker; the val job feeds the worker the very
batches the local validator's loader makes, matches each image with :func:`validator.match_image`
there, and reduces on the driver with :func:`validator.reduce_matches` — so the metrics are
bit-for-bit those of a local validation.

A job is pickled to every worker: it holds configuration, paths, a dataset index and, only when
the model exists nowhere on disk (a YAML config, an in-memory module), the module itself.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segctl.errors import UsageError

#: one row per image of ``segctl segment predict ... runner=ray`` (docs/scale-out.md)
PREDICT_COLUMNS = {
    "index": "int64",                  # position in the sorted input list
    "path": "string",                  # the input as given (absolute path or URL)
    "width": "int32", "height": "int32",
    "boxes": "list<list<float32>>",    # xyxy in original pixels
    "scores": "list<float32>",
    "classes": "list<int32>",
    "class_names": "list<string>",
    "masks": "list<struct<size: list<int32>, counts: string>>",  # COCO RLE at the original size
    "polygons": "list<list<float32>>",  # x0, y0, x1, y1, ... per mask (polygons=True), else empty
    "error": "string",                 # why the image has no predictions (unreadable), else null
}

#: one row per validation image: its matches (the per-image step), reduced on the driver
VAL_COLUMNS = {
    "batch": "int64", "pos": "int32", "image": "string",
    "tp": "list<bool>", "tp_m": "list<bool>", "ignore": "list<bool>", "ignore_m": "list<bool>",  # [n*10]
    "conf": "list<float32>", "pred_cls": "list<float32>", "target_cls": "list<int64>",
    "confusion": "list<int64>",        # this image's (nc+1)^2 confusion-matrix counts
}

RLE_CHUNK = 16  # masks brought to full resolution at a time (memory bound on large images)


def make_job(mode: str, cfg: dict, session):
    if mode == "predict":
        return PredictJob(cfg, session)
    if mode == "val":
        return ValJob(cfg, session)
    raise UsageError(f"segment {mode} cannot run on a runner", hint="use runner=local")


def _gpu_wanted(cfg: dict) -> bool:
    dev = cfg.get("device")
    return dev is None or str(dev).lower() not in ("cpu", "mps")


def _model_source(cfg: dict, loaded_module):
    """``(what the workers load, its content hash)``: a file or folder path when the model is one
    (every node must see it at that path), else the loaded module itself (a YAML config's random
    weights must be the same in every worker)."""
    src = cfg.get("model_object") if cfg.get("model_object") is not None else cfg.get("model")
    if isinstance(src, (str, Path)) and Path(src).exists():
        return str(Path(src).resolve()), _hash_path(Path(src))
    module = src if src is not None and not isinstance(src, (str, Path)) else loaded_module
    return module, _hash_module(module)


def _hash_path(p: Path) -> str:
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        h.update(f.relative_to(p).as_posix().encode() if p.is_dir() else b"")
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def _hash_module(module) -> str:
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _worker_cfg(cfg: dict, model) -> dict:
    out = {k: v for k, v in cfg.items() if k not in ("model_object", "source", "stream")}
    if isinstance(model, str):
        out["model"] = model
    else:
        out["model_object"] = model
    out["verbose"] = False
    return out


# ---------------------------------------------------------------------- predict


@dataclass
class PredictSummary:
    """What ``predict(..., runner=...)`` returns: where the rows are and what they hold."""

    output: str
    images: int
    errors: int
    detections: int
    files: list[str] = field(default_factory=list)
    coco_json: str | None = None

    def __str__(self) -> str:
        extra = f", COCO results {self.coco_json}" if self.coco_json else ""
        bad = f" ({self.errors} unreadable: see the error column)" if self.errors else ""
        return (f"{self.images} images{bad}, {self.detections} detections -> {self.output} "
                f"({len(self.files)} files{extra})")


class PredictJob:
    """Every image of ``source`` is one item and one row (resumable)."""

    columns = PREDICT_COLUMNS
    resumable = True
    unit = "images"

    def __init__(self, cfg: dict, session):
        from .engine_setup import run_dir_for
        from .predictor import SegmentPredictor
        from .sources import list_inputs

        if cfg.get("stream"):
            raise UsageError("stream=True cannot be used with a runner: the results go to files", hint="drop stream=True")
        self.items = list_inputs(cfg.get("source") if cfg.get("source") is not None else "")
        # metadata only: PyTorch, so the driver never compiles a fast-path artifact it will not run
        probe = SegmentPredictor({**cfg, "device": "cpu", "half": False, "backend": "torch"}, session)
        self.imgsz, self.stride, self.names = probe.imgsz, probe.stride, dict(probe.names)
        meta = getattr(probe.backend, "metadata", {}) or {}
        self.max_batch = None if probe.dynamic else int(meta.get("batch", 1) or 1)
        model, model_hash = _model_source(cfg, getattr(probe.backend, "model", None))
        del probe
        self.batch = 16 if int(cfg.get("batch") or 1) == -1 else max(int(cfg.get("batch") or 1), 1)
        self.gpu = _gpu_wanted(cfg)
        self.polygons = bool(cfg.get("polygons"))
        self.save = bool(cfg.get("save"))
        self.save_json = bool(cfg.get("save_json"))
        self.output = str(Path(cfg["output"]).resolve()) if cfg.get("output") else str(run_dir_for(cfg, "predict").resolve())
        self.cfg = _worker_cfg(cfg, model)
        self.fingerprint = {"task": "segment", "mode": "predict", "model": model_hash, "imgsz": list(self.imgsz),
                            **{k: cfg.get(k) for k in ("conf", "iou", "max_det", "classes", "agnostic_nms",
                                                       "retina_masks", "half", "polygons")}}

    # ---- CPU side
    def load(self, index: int, item: str) -> dict:
        """Read + decode + letterbox to ``imgsz`` (every image the same size, so any batch stacks).
        Imports no torch: decode tasks stay small and start fast."""
        from .data.augment import letterbox_image
        from .sources import read_input

        im, err = read_input(item)
        if im is None:
            return {"index": index, "path": item, "error": err}
        lb, ratio_pad = letterbox_image(im, self.imgsz, self.stride, auto=False)
        return {"index": index, "path": item, "shape": tuple(im.shape[:2]), "image": lb, "ratio_pad": ratio_pad,
                "error": None}

    # ---- worker side
    def worker(self):
        return _PredictWorker(self)

    # ---- driver side
    def reduce(self, rows, output) -> PredictSummary:
        """Counts, and ``predictions.json`` (COCO results, RLE masks) with ``save_json=True``."""
        out = Path(output or self.output)
        n = errors = dets = 0
        coco = _CocoWriter(out / "predictions.json") if self.save_json else None
        try:
            for r in rows:
                n += 1
                errors += r["error"] is not None
                dets += len(r["scores"] or [])
                if coco is not None:
                    coco.add(r)
            if coco is not None:
                coco.close()
        except BaseException:
            if coco is not None:
                coco.abort()
            raise
        files = sorted(str(p) for p in out.glob("part-*"))
        return PredictSummary(str(out), n, errors, dets, files, str(coco.path) if coco else None)


class _PredictWorker:
    """Holds one predictor (model loaded once per worker process)."""

    def __init__(self, job: PredictJob):
        from segctl.session import Session

        from .predictor import SegmentPredictor

        self.job = job
        self.predictor = SegmentPredictor(dict(job.cfg), Session.create())
        self.images_dir = Path(job.output) / "images"

    def __call__(self, payloads: list[dict]) -> list[list[dict]]:
        from .sources import Frame

        p = self.predictor
        rows: list = [None] * len(payloads)
        good = [k for k, pl in enumerate(payloads) if pl["error"] is None]
        step = self.job.max_batch or max(len(good), 1)
        for s in range(0, len(good), step):
            chunk = good[s:s + step]
            x = p.to_input(np.stack([payloads[k]["image"] for k in chunk]))
            out = p.backend(x)
            frames = [Frame(payloads[k]["path"], _shape_only(payloads[k]["shape"])) for k in chunk]
            results = p.postprocess(out, x, frames, [payloads[k]["ratio_pad"] for k in chunk])
            for k, r in zip(chunk, results):
                rows[k] = self._row(payloads[k], r)
        for k, pl in enumerate(payloads):
            if rows[k] is None:
                rows[k] = {"index": pl["index"], "path": pl["path"], "width": None, "height": None, "boxes": [],
                           "scores": [], "classes": [], "class_names": [], "masks": [], "polygons": [],
                           "error": pl["error"]}
        return [[r] for r in rows]

    def _row(self, pl: dict, r) -> dict:
        from pycocotools import mask as mask_utils

        from .results import Masks

        h, w = pl["shape"]
        n = len(r)
        data = r.boxes.data.float().cpu().numpy() if n else np.zeros((0, 6), np.float32)
        cls = data[:, 5].astype(int)
        masks, polys = [], []
        if n and r.masks is not None:
            for s in range(0, n, RLE_CHUNK):
                part = Masks(r.masks.data[s:s + RLE_CHUNK], (h, w)).at_orig()  # bool [k, h, w]
                for rle in mask_utils.encode(np.asfortranarray(part.transpose(1, 2, 0).astype(np.uint8))):
                    masks.append({"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")})
            if self.job.polygons:
                polys = [np.asarray(q, np.float32).reshape(-1).tolist() for q in r.masks.xy]
        if self.job.save:
            self._save(pl, r)
        return {"index": pl["index"], "path": pl["path"], "width": int(w), "height": int(h),
                "boxes": data[:, :4].tolist(), "scores": data[:, 4].tolist(), "classes": cls.tolist(),
                "class_names": [str(self.job.names.get(int(c), c)) for c in cls], "masks": masks,
                "polygons": polys, "error": None}

    def _save(self, pl: dict, r) -> None:
        """``images/<index>_<name>``: the annotated original (read again: the CPU step shipped only
        the letterboxed copy). Written atomically, so a retried item overwrites, never doubles."""
        import cv2

        from segctl.io import atomic_write_bytes

        from .sources import read_input

        im, _ = read_input(pl["path"])
        if im is None:
            return
        cfg = self.job.cfg
        plotted = r.plot(conf=bool(cfg.get("show_conf", True)), labels=bool(cfg.get("show_labels", True)),
                         boxes=bool(cfg.get("show_boxes", True)), line_width=cfg.get("line_width"), img=im)
        name = Path(pl["path"].split("?")[0]).name or "image.jpg"
        suffix = Path(name).suffix.lower() if Path(name).suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") else ".jpg"
        ok, buf = cv2.imencode(suffix, plotted)
        if ok:
            atomic_write_bytes(self.images_dir / f"{pl['index']:08d}_{Path(name).stem}{suffix}", buf.tobytes())


def _shape_only(shape) -> np.ndarray:
    """A read-only zero-stride array with the original image's shape: ``postprocess`` reads only
    the shape of ``frame.image``, and the original pixels never travel to the worker."""
    return np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (int(shape[0]), int(shape[1]), 3))


class _CocoWriter:
    """``predictions.json`` in COCO results format, streamed (any number of images) and renamed
    into place only when complete."""

    def __init__(self, path: Path):
        from segctl.io import TMP_PREFIX

        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(TMP_PREFIX + path.name)
        self.f = open(self.tmp, "w", encoding="utf-8")
        self.f.write("[")
        self.first = True

    def add(self, row: dict) -> None:
        if row["error"] is not None:
            return
        stem = Path(str(row["path"]).split("?")[0]).stem
        image_id = int(stem) if stem.isdigit() else stem
        for box, score, c, rle in zip(row["boxes"], row["scores"], row["classes"], row["masks"] or []):
            x1, y1, x2, y2 = (float(v) for v in box)
            d = {"image_id": image_id, "category_id": int(c),
                 "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                 "score": round(float(score), 5),
                 "segmentation": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"]}}
            self.f.write(("" if self.first else ",") + json.dumps(d))
            self.first = False

    def close(self) -> None:
        self.f.write("]")
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.f.close()
        self.tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------- val


class ValJob:
    """Each batch of the local validator's loader is one item; each image one row of matches."""

    columns = VAL_COLUMNS
    resumable = False
    batch = 1
    unit = "batches"

    def __init__(self, cfg: dict, session):
        from .validator import SegmentValidator

        if cfg.get("save_json"):
            raise UsageError("save_json=True is not supported by runners in val (it needs every mask on the driver)",
                             hint="run that validation with runner=local")
        v = SegmentValidator({**cfg, "backend": "torch"}, session)  # the driver only reads metadata
        v.setup()  # same data, input size, batch, stride and rect batches as a local validation
        model, model_hash = _model_source(v.cfg, getattr(v.backend, "model", None))
        self.cfg = _worker_cfg(v.cfg, model)
        self.index, self.names = v.index, dict(v.names)
        self.imgsz, self.vbatch, self.stride, self.half = v.imgsz, v.batch, v.stride, v.half
        self.save_dir, self.plots, self.verbose = v.save_dir, bool(cfg.get("plots")), bool(cfg.get("verbose", True))
        n = len(v.loader.dataset)
        self.items = [str(b) for b in range(-(-n // self.vbatch))]
        self.gpu = _gpu_wanted(cfg)
        self.output = None
        self.fingerprint = {"task": "segment", "mode": "val", "model": model_hash, "imgsz": self.imgsz,
                            "batch": self.vbatch, "data": str(v.cfg.get("data"))}
        self._session = session  # driver only (dropped when pickled): the on_val_end event
        self._ds = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_session", "_ds")} | {"_session": None, "_ds": None}

    def _dataset(self):
        if self._ds is None:  # once per process: the same dataset (rect batch shapes) as the local loader
            from .engine_setup import make_loader

            cfg = {**self.cfg, "workers": 0}
            _, self._ds = make_loader(self.index, cfg, self.imgsz, self.vbatch, self.stride, train=False,
                                      rect=bool(self.cfg.get("rect")))
        return self._ds

    def load(self, index: int, item: str) -> dict:
        from .data import collate

        ds = self._dataset()
        bi = int(item)
        batch = collate([ds[p] for p in range(bi * self.vbatch, min((bi + 1) * self.vbatch, len(ds)))])
        return {"batch": bi, "img": batch["img"].numpy(), "ratio_pad": batch["ratio_pad"], "index": batch["index"]}

    def worker(self):
        return _ValWorker(self)

    def reduce(self, rows, output):
        """The reduction step on the driver: rows in the local loader's order → the same metrics."""
        import torch

        from . import progress
        from .confusion import ConfusionMatrix
        from .metrics import StatsAccumulator
        from .validator import SegmentValidator, reduce_matches

        nc = len(self.names)
        stats = StatsAccumulator(mask=True)
        cm = ConfusionMatrix(nc=nc, conf=0.25, iou=0.45)
        nimg_per_class = np.zeros(max(nc, 1), int)
        seen = 0
        for r in sorted(rows, key=lambda r: (int(r["batch"]), int(r["pos"]))):
            seen += 1
            flags = {k: torch.as_tensor(np.asarray(r[k] or [], bool).reshape(-1, 10))
                     for k in ("tp", "tp_m", "ignore", "ignore_m")}
            target = torch.as_tensor(np.asarray(r["target_cls"] or [], np.int64))
            stats.update(conf=torch.as_tensor(np.asarray(r["conf"] or [], np.float32)),
                         pred_cls=torch.as_tensor(np.asarray(r["pred_cls"] or [], np.float32)),
                         target_cls=target, **flags)
            cm.matrix += np.asarray(r["confusion"], np.int64).reshape(nc + 1, nc + 1)
            nimg_per_class[np.unique(target.numpy())] += 1
        metrics = reduce_matches(stats, self.names)
        metrics.speed = {"preprocess": 0.0, "inference": 0.0, "loss": 0.0, "postprocess": 0.0}
        metrics.confusion_matrix = cm
        metrics.save_dir = self.save_dir
        if self.verbose:
            progress.console().print(progress.metrics_table(metrics, self.names, metrics.nt_per_class,
                                                            nimg_per_class, seen, per_class=nc > 1))
        shell = SegmentValidator(self.cfg, self._session, index=self.index, save_dir=self.save_dir, names=self.names)
        if self.plots and self.save_dir is not None:
            shell._plots(metrics, cm)
        shell.metrics = metrics
        if self._session is not None:
            self._session.emit("on_val_end", validator=shell, metrics=metrics)
        return metrics


class _ValWorker:
    """Backend + the validator's own NMS, then the per-image step (:func:`match_image`)."""

    def __init__(self, job: ValJob):
        from segctl.export import load_backend
        from segctl.session import Session

        from .ddp import select_device
        from .validator import SegmentValidator

        self.job = job
        session = Session.create()
        self.v = SegmentValidator(dict(job.cfg), session, index=job.index, names=job.names)
        self.v.device = select_device(job.cfg)
        src = job.cfg.get("model_object") if job.cfg.get("model_object") is not None else job.cfg["model"]
        self.backend = load_backend(src, session, device=str(self.v.device))

    def __call__(self, payloads: list[dict]) -> list[list[dict]]:
        import torch

        from .confusion import ConfusionMatrix
        from .validator import match_image

        nc = len(self.job.names)
        out = []
        with torch.no_grad():
            for pl in payloads:
                img = torch.from_numpy(pl["img"]).to(self.v.device).float() / 255
                pred = self.backend(img.half() if self.job.half else img)
                dets = self.v._postprocess(pred, nc)
                rows = []
                for si, det in enumerate(dets):
                    rec = self.job.index.records[int(pl["index"][si])]
                    det = det.to(self.v.device)
                    m = match_image(det, self.v._protos[si], rec, img.shape[2:], pl["ratio_pad"][si], self.v.device)
                    cm = ConfusionMatrix(nc=nc, conf=0.25, iou=0.45)
                    cm.process_batch(torch.cat([m["boxes"], det[:, 4:6]], 1).cpu(), m["gt_boxes"].cpu(),
                                     m["gt_cls"].cpu())
                    st = m["stats"]
                    rows.append({"batch": pl["batch"], "pos": si, "image": rec["im_file"],
                                 **{k: st[k].numpy().reshape(-1).tolist() for k in ("tp", "tp_m", "ignore", "ignore_m")},
                                 "conf": st["conf"].numpy().tolist(), "pred_cls": st["pred_cls"].float().numpy().tolist(),
                                 "target_cls": st["target_cls"].numpy().astype(np.int64).tolist(),
                                 "confusion": cm.matrix.reshape(-1).tolist()})
                out.append(rows)
        return out
