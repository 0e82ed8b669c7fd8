"""The segment predictor: frames in, :class:`Results` out, for every backend.

Pipeline per batch: letterbox (minimal stride padding for dynamic models, fixed size for static
exported graphs) → backend → NMS → masks (at the letterboxed input size, or at the original size
with ``retina_masks=True``) → ``Results`` with boxes in original pixels. Outputs (annotated images
or videos, YOLO label files, crops) go to ``runs/segment/predict[N]/``, made only when something
is saved. ``stream=True`` yields results one by one so memory stays bounded on long videos.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import torch

from . import progress
from .data.augment import letterbox_image
from .sources import Frame, batched, iter_frames, prefetch, prefetch_worthwhile


#: keys whose change needs a new backend; every other key applies to the next call as it is
REBUILD_KEYS = ("model", "model_object", "model_handle", "device", "half", "backend", "end2end")


class SegmentPredictor:
    """``SegmentPredictor(cfg, session)(source, stream=False)`` → list (or generator) of Results.

    A predictor is built once per model and kept by the Python facade: the backend (loaded,
    compiled, warmed up) is reused by every call, and :meth:`configure` applies a call's
    arguments (``conf``, ``iou``, ``classes``, ``imgsz`` of a dynamic model, ``save`` ...)
    without rebuilding; :meth:`reusable_for` says when a call needs a new one."""

    def __init__(self, cfg: dict, session):
        from .backend_choice import open_backend
        from .ddp import select_device

        self.session = session
        self.cfg = dict(cfg)
        self.device = select_device(self.cfg)
        self.backend = open_backend(self.cfg, session, self.device)
        self.half = bool(cfg.get("half")) and self.device.type == "cuda"
        if self.half and hasattr(self.backend, "model") and isinstance(self.backend.model, torch.nn.Module):
            self.backend.model.half()
            self.backend.fp16 = True
        meta = getattr(self.backend, "metadata", {}) or {}
        self.dynamic = bool(meta.get("dynamic", True))
        self.names = dict(self.backend.names)
        st = self.backend.stride
        self.stride = int(max(st)) if hasattr(st, "__iter__") else int(st or 32)
        self.save_dir: Path | None = None
        self._writers: dict = {}
        self._built_with = {k: cfg.get(k) for k in REBUILD_KEYS}
        self.configure(cfg)

    def reusable_for(self, cfg: dict) -> bool:
        """True when ``cfg`` can run on this predictor's backend (no key of :data:`REBUILD_KEYS`
        changed; for a static exported graph, ``imgsz`` is fixed by the graph and ignored)."""
        return all(cfg.get(k) is self._built_with[k] or cfg.get(k) == self._built_with[k] for k in REBUILD_KEYS)

    def configure(self, cfg: dict) -> None:
        """Apply one call's configuration; a new run folder only when ``project``/``name``/``exist_ok``
        change (as the reference does: repeated calls save into one folder)."""
        if any(cfg.get(k) != self.cfg.get(k) for k in ("project", "name", "exist_ok")):
            self.save_dir = None
        self.cfg = dict(cfg)
        meta = getattr(self.backend, "metadata", {}) or {}
        self.imgsz = self._imgsz(cfg.get("imgsz"), meta)
        self.conf = 0.25 if cfg.get("conf") is None else float(cfg["conf"])
        from .end2end import configure

        self.end2end = configure(self.backend, bool(cfg.get("end2end")))  # the model says if it can
        if cfg.get("augment"):
            warnings.warn("augment=True (test-time augmentation) is not applied to segmentation models; "
                          "predicting without it", stacklevel=3)
        self.seen = 0
        self.dt = [0.0, 0.0, 0.0]
        self.fps = 0.0

    def _imgsz(self, imgsz, meta) -> tuple[int, int]:
        if not self.dynamic and meta.get("imgsz"):
            mi = meta["imgsz"]
            return (int(mi[0]), int(mi[-1])) if isinstance(mi, (list, tuple)) else (int(mi), int(mi))
        if imgsz is None:
            imgsz = 640
        if isinstance(imgsz, (list, tuple)):
            h, w = (int(imgsz[0]), int(imgsz[-1]))
        else:
            h = w = int(imgsz)
        s = self.stride
        return max(-(-h // s) * s, s), max(-(-w // s) * s, s)

    # ------------------------------------------------------------------ public
    def __call__(self, source=None, stream: bool = False):
        source = source if source is not None else self.cfg.get("source")
        if source is None:
            from .sources import default_source

            source = default_source()
        gen = self.stream(source)
        return gen if stream else list(gen)

    def stream(self, source):
        """Generator of Results (one per image / video frame). Files, videos and streams are read
        by a background thread one step ahead (:func:`.sources.prefetch`)."""
        verbose = self.cfg.get("verbose", True)
        bs = _images_per_batch(self.cfg.get("batch")) if self.dynamic else int(self.backend.metadata.get("batch", 1) or 1)
        self.seen, self.dt = 0, [0.0, 0.0, 0.0]
        frames_in = iter_frames(source, int(self.cfg.get("vid_stride") or 1))
        if prefetch_worthwhile(source):
            frames_in = prefetch(frames_in, depth=2 * bs)
        t_start = time.perf_counter()
        try:
            for frames in batched(frames_in, bs):
                results = self._predict_batch(frames)
                self.session.emit("on_predict_batch_end", predictor=self, results=results)
                for f, r in zip(frames, results):
                    self.seen += 1
                    r.frame = f.frame  # video frame number (None for images): track mode's MOT rows
                    im = self._annotated(r) if self.cfg.get("save") or self.cfg.get("show") else None
                    self._write(f, r, im)
                    if self.cfg.get("show"):
                        self._show(f, im)
                    if verbose:
                        h, w = f.image.shape[:2]
                        progress.console().print(f"{f.info}: {h}x{w} {r.verbose()}{r.speed['inference']:.1f}ms")
                    yield r
        finally:
            close = getattr(frames_in, "close", None)
            if close is not None:
                close()
            for vw in self._writers.values():
                vw.release()
            self._writers.clear()
        wall = time.perf_counter() - t_start
        self.fps = self.seen / wall if wall > 0 else 0.0
        if verbose and self.seen:
            n = self.seen
            speed = {k: v * 1e3 / n for k, v in zip(("preprocess", "inference", "postprocess"), self.dt)}
            progress.console().print(progress.speed_line(speed, (1, 3, *self._last_shape)))
            progress.console().print(f"{n} frame{'s' * (n > 1)} in {wall:.1f}s: {self.fps:.1f} FPS end to end")
            if self.save_dir is not None:
                progress.console().print(f"results saved to {self.save_dir}")

    # ------------------------------------------------------------------ steps
    def preprocess(self, images: list[np.ndarray]):
        """Letterbox BGR images into a float RGB ``[B,3,H,W]`` tensor; returns it and each image's
        ``ratio_pad`` in the batch contract's layout."""
        same = len({im.shape for im in images}) == 1
        auto = self.dynamic and same
        out, ratio_pads = [], []
        for im in images:
            lb, ratio_pad = letterbox_image(im, self.imgsz, self.stride, auto=auto)
            out.append(lb)
            ratio_pads.append(ratio_pad)
        return self.to_input(np.stack(out)), ratio_pads

    def to_input(self, letterboxed: np.ndarray):
        """``[B,H,W,3]`` BGR uint8 letterboxed images → the model input: float RGB ``[B,3,H,W]``
        in 0..1 on the predictor's device (half on CUDA with ``half=True``)."""
        arr = letterboxed[..., ::-1].transpose(0, 3, 1, 2)
        if self.device.type == "cpu":
            # numpy, one thread: a CPU tensor op here wakes torch's whole thread pool for ~1 ms of
            # work, which cost 40 ms per frame on a busy machine; the values are the same (x / 255)
            x = np.ascontiguousarray(arr, dtype=np.float32)
            np.divide(x, 255, out=x)
            return torch.from_numpy(x)
        x = torch.from_numpy(np.ascontiguousarray(arr)).to(self.device)  # uint8 upload, convert there
        x = x.half() if self.half else x.float()
        return x / 255

    def postprocess(self, out, x, frames: list[Frame], ratio_pads) -> list:
        """NMS and masks → one Results per frame (boxes in original pixels)."""
        from .boxes import scale_boxes
        from .masks_ops import process_masks, process_masks_native
        from .ops import non_max_suppression
        from .results import Results

        cfg = self.cfg
        in_shape = tuple(x.shape[2:])
        if isinstance(out, dict):
            return self._from_e2e(out, in_shape, frames, ratio_pads)
        pred, proto = (out[0], out[1]) if isinstance(out, (list, tuple)) else (out, None)
        if isinstance(proto, (list, tuple)):
            proto = proto[-1]
        if self.end2end:  # one-to-one outputs: already final, no NMS
            from .end2end import topk_detections

            dets = topk_detections(pred, conf=self.conf, max_det=int(cfg.get("max_det") or 300), nc=len(self.names))
            cls_keep = _classes(cfg.get("classes"))
            if cls_keep is not None:
                dets = [d[torch.isin(d[:, 5].long(), torch.as_tensor(cls_keep, device=d.device))] for d in dets]
        else:
            dets = non_max_suppression(pred, conf=self.conf, iou=float(cfg.get("iou") or 0.7),
                                       classes=_classes(cfg.get("classes")), agnostic=bool(cfg.get("agnostic_nms")),
                                       max_det=int(cfg.get("max_det") or 300), nc=len(self.names))
        results = []
        for i, (det, f) in enumerate(zip(dets, frames)):
            shape0 = f.image.shape[:2]
            boxes_in = det[:, :4].float()
            boxes = scale_boxes(in_shape, boxes_in.clone(), shape0, ratio_pad=ratio_pads[i])
            masks = None
            if proto is not None:
                if cfg.get("retina_masks"):
                    masks = process_masks_native(proto[i], det[:, 6:], boxes, shape0, ratio_pad=ratio_pads[i],
                                                 input_shape=in_shape)
                else:
                    masks = process_masks(proto[i], det[:, 6:], boxes_in, in_shape, upsample=True)
            data = torch.cat([boxes, det[:, 4:6].float()], 1)
            results.append(Results(f.image, f.path, self.names, boxes=data, masks=masks))
        return results

    def _from_e2e(self, out: dict, in_shape, frames, ratio_pads) -> list:
        """Results from an ``nms=True`` artifact (boxes/scores/classes/masks/num already final)."""
        from .boxes import scale_boxes
        from .results import Results

        results = []
        for i, f in enumerate(frames):
            n = int(out["num"][i]) if "num" in out else len(out["scores"][i])
            keep = out["scores"][i][:n] >= self.conf
            boxes = scale_boxes(in_shape, out["boxes"][i][:n][keep].float().clone(), f.image.shape[:2],
                                ratio_pad=ratio_pads[i])
            data = torch.cat([boxes, out["scores"][i][:n][keep, None].float(),
                              out["classes"][i][:n][keep, None].float()], 1)
            masks = out["masks"][i][:n][keep] > 0.5 if "masks" in out else None
            results.append(Results(f.image, f.path, self.names, boxes=data, masks=masks))
        return results

    def _predict_batch(self, frames: list[Frame]) -> list:
        if self.cfg.get("slice"):  # small objects in large images: tiles + mask merging
            from .slicing import predict_frames

            return predict_frames(self, frames)
        t0 = time.perf_counter()
        x, ratio_pads = self.preprocess([f.image for f in frames])
        t1 = time.perf_counter()
        out = self.backend(x)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t2 = time.perf_counter()
        results = self.postprocess(out, x, frames, ratio_pads)
        t3 = time.perf_counter()
        n = len(frames)
        for k, dt in enumerate((t1 - t0, t2 - t1, t3 - t2)):
            self.dt[k] += dt
        speed = {"preprocess": (t1 - t0) * 1e3 / n, "inference": (t2 - t1) * 1e3 / n,
                 "postprocess": (t3 - t2) * 1e3 / n}
        for r in results:
            r.speed = dict(speed)
        self._last_shape = tuple(x.shape[2:])
        return results

    # ------------------------------------------------------------------ outputs
    def _out_dir(self) -> Path:
        if self.save_dir is None:
            from .engine_setup import run_dir_for

            self.save_dir = run_dir_for(self.cfg, "predict")
        return self.save_dir

    def _annotated(self, r) -> np.ndarray:
        """The plot that ``save`` writes and ``show`` shows (drawn once for both)."""
        cfg = self.cfg
        return r.plot(conf=bool(cfg.get("show_conf", True)), labels=bool(cfg.get("show_labels", True)),
                      boxes=bool(cfg.get("show_boxes", True)), line_width=cfg.get("line_width"))

    def _write(self, f: Frame, r, im: np.ndarray | None) -> None:
        cfg = self.cfg
        save, save_txt, save_crop = bool(cfg.get("save")), bool(cfg.get("save_txt")), bool(cfg.get("save_crop"))
        if not (save or save_txt or save_crop):
            return
        d = self._out_dir()
        stem = Path(f.path).stem if not f.path.isdigit() else f"stream{f.path}"
        fstem = stem if f.frame is None else f"{stem}_{f.frame}"
        if save:
            if f.is_video:
                self._video_write(d / f"{stem}.mp4", im, f.fps)
                if cfg.get("save_frames"):
                    import cv2

                    (d / f"{stem}_frames").mkdir(exist_ok=True)
                    cv2.imwrite(str(d / f"{stem}_frames" / f"{fstem}.jpg"), im)
            else:
                import cv2

                name = Path(f.path).name if Path(f.path).suffix else f"{stem}.jpg"
                cv2.imwrite(str(d / name), im)
        if save_txt:
            (d / "labels").mkdir(exist_ok=True)
            r.save_txt(d / "labels" / f"{fstem}.txt", save_conf=bool(cfg.get("save_conf")))
        if save_crop:
            r.save_crop(d / "crops", file_name=fstem)

    def _show(self, f: Frame, im: np.ndarray) -> None:
        """``show=True``: a window per source (video frames replace each other); where nothing can be
        shown, one warning and predicting goes on -- a long run is not lost to a missing display."""
        from segctl.errors import UsageError

        from .display import show_image

        try:
            show_image(im, str(f.path), wait_ms=1 if f.is_video else 500)
        except UsageError as e:
            import warnings

            warnings.warn(f"show=True ignored: {e.message} ({e.hint})", RuntimeWarning, stacklevel=2)
            self.cfg["show"] = False

    def _video_write(self, path: Path, im: np.ndarray, fps: float) -> None:
        import cv2

        vw = self._writers.get(path)
        if vw is None:
            h, w = im.shape[:2]
            vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), max(fps, 1.0), (w, h))
            self._writers[path] = vw
        vw.write(im)


def _classes(c):
    if c is None:
        return None
    return [int(v) for v in (c if isinstance(c, (list, tuple)) else [c])]


def _images_per_batch(batch) -> int:
    """Images per inference batch: ``batch``, or 16 for the default ``-1`` (auto is a training rule)."""
    b = int(batch or 1)
    return 16 if b == -1 else max(b, 1)
