"""Calibration images for ``int8=True``: letterboxed samples from the dataset named by ``data=``.

Why real images: full-integer quantisation picks each tensor's int8 range from the activations it
sees; random noise gives ranges that real images never hit and the model loses most of its mAP.
The images come from the dataset's ``train`` split (``val`` when there is none), ``fraction`` of
them (at least one, at most :data:`MAX_IMAGES` — a few hundred are plenty for range estimation).
"""
from __future__ import annotations

import numpy as np

from segctl.errors import DataError, UsageError

MAX_IMAGES = 300
PAD = 114


def letterbox(img: np.ndarray, size: list[int]) -> np.ndarray:
    """Resize ``img`` (HWC uint8 RGB) keeping its aspect ratio and pad to ``size`` [h, w] with 114."""
    import cv2

    h, w = size
    r = min(h / img.shape[0], w / img.shape[1])
    nh, nw = max(1, round(img.shape[0] * r)), max(1, round(img.shape[1] * r))
    out = np.full((h, w, 3), PAD, np.uint8)
    top, left = (h - nh) // 2, (w - nw) // 2
    out[top:top + nh, left:left + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out


def image_files(data: str, session, fraction: float) -> list[str]:
    """Image paths for calibration from the dataset config ``data`` (a YAML path or a name)."""
    cfg, fmt = session.resolve_data(data)
    split = "train" if cfg.get("train") else "val"
    index = fmt.load(cfg, split, task="segment")
    files = [r["im_file"] for r in index.records]
    if not files:
        raise DataError(f"dataset {data!r} has no usable images in its {split!r} split for int8 calibration",
                        hint="check the dataset with 'segctl data check data=...'")
    n = min(MAX_IMAGES, max(1, round(len(files) * fraction)))
    return files[:: max(1, len(files) // n)][:n]


def calibration_batches(args: dict, session):
    """A generator factory for TFLite's ``representative_dataset``: ``[NHWC float32 0..1 batch]``."""
    import cv2

    if not args.get("data"):
        raise UsageError("int8=True needs calibration images: pass data=<dataset.yaml>",
                         hint="e.g. segctl export format=tflite int8=True data=coco8-seg.yaml fraction=0.5")
    files = image_files(str(args["data"]), session, float(args.get("fraction") or 1.0))
    batch = int(args.get("batch", 1))

    def gen():
        for i in range(0, len(files) - batch + 1 if len(files) >= batch else 1, batch):
            imgs = []
            for f in (files[i:i + batch] + files[:batch])[:batch]:
                bgr = cv2.imread(f)
                if bgr is None:
                    raise DataError(f"cannot read calibration image {f}", hint="check the dataset files")
                imgs.append(letterbox(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), args["imgsz"]))
            yield [np.stack(imgs).astype(np.float32) / 255.0]

    return gen, len(files)
