"""Calibration images for post-training int8 quantisation (OpenVINO, TensorRT, ...), read from ``data=``.

Why its own module: int8 accuracy depends on the activations seen during calibration, so they must
be real images prepared exactly as at inference (letterboxed to ``imgsz`` with grey 114 padding,
RGB, 0..1, NCHW). ``data=`` is either a dataset the session can resolve (a dataset YAML, a
registered name such as ``shapes-seg``) — its ``val`` split is used, else ``train`` — or a plain
folder of images. Nothing is downloaded: without ``data=`` int8 export is refused.

One module for every int8 exporter (OpenVINO, TensorRT: NCHW arrays via :func:`calibration_images`;
TFLite: NHWC batches built from :func:`calibration_files` and :func:`read_letterboxed`), so they all
pick and prepare calibration images the same way: spread evenly over the split (a sorted dataset's
first images may all show one class), unreadable files reported by path and skipped.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from segctl.errors import DataError, UsageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: more images barely change the activation ranges but cost export time
MAX_IMAGES = 300
LOG = logging.getLogger("segctl.export")


def letterbox(img: Any, shape: tuple[int, int]) -> Any:
    """Resize ``img`` (HWC uint8) keeping its aspect ratio and pad to ``shape`` (h, w) with 114."""
    import cv2
    import numpy as np

    h0, w0 = img.shape[:2]
    r = min(shape[0] / h0, shape[1] / w0)
    nh, nw = max(1, round(h0 * r)), max(1, round(w0 * r))
    if (nh, nw) != (h0, w0):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    out = np.full((shape[0], shape[1], 3), 114, dtype=np.uint8)
    top, left = (shape[0] - nh) // 2, (shape[1] - nw) // 2
    out[top:top + nh, left:left + nw] = img
    return out


def image_files(data: Any, session: Any, prefer: tuple[str, ...] = ("val", "train")) -> list[str]:
    """The image paths ``data=`` names (see the module docstring); of a dataset, the first split
    of ``prefer`` it has."""
    if data in (None, ""):
        raise UsageError("int8=True needs calibration images: pass data=...",
                         hint="e.g. data=path/to/data.yaml, data=shapes-seg or data=folder/of/images")
    path = Path(str(data))
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            return files
    resolve = getattr(session, "resolve_data", None)
    if resolve is None:
        raise DataError(f"calibration data {data}: not a folder of images and no session to resolve it",
                        hint="pass data= as a folder of images or a dataset YAML")
    cfg, fmt = resolve(str(data))
    split = next((s for s in prefer if cfg.get(s)), prefer[-1])
    index = fmt.load(cfg, split, task="segment")
    files = [r["im_file"] for r in index.records]
    if not files:
        raise DataError(f"calibration data {data}: split {split!r} has no usable images",
                        hint="check it with: segctl data check data=...")
    return files


def calibration_files(data: Any, session: Any, fraction: float = 1.0, limit: int = MAX_IMAGES,
                      prefer: tuple[str, ...] = ("val", "train")) -> list[str]:
    """``fraction`` of the images (at least one, at most ``limit``), spread evenly over the list."""
    files = image_files(data, session, prefer)
    n = min(limit, max(1, int(len(files) * float(fraction or 1.0))))
    return files[:: max(1, len(files) // n)][:n]


def read_letterboxed(file: str, imgsz) -> Any:
    """``file`` as letterboxed HWC uint8 RGB at ``imgsz`` (h, w), or ``None`` (with a warning naming
    it) when it cannot be read."""
    import cv2

    img = cv2.imread(file, cv2.IMREAD_COLOR)
    if img is None:
        LOG.warning("calibration: cannot read %s, skipped", file)
        return None
    return letterbox(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (int(imgsz[0]), int(imgsz[1])))


def calibration_images(data: Any, session: Any, imgsz: list[int], fraction: float = 1.0,
                       limit: int = MAX_IMAGES) -> list:
    """Float32 arrays ``[1, 3, h, w]`` (0..1 RGB), at most ``limit``, ``fraction`` of the files."""
    import numpy as np

    files = calibration_files(data, session, fraction, limit)
    out = [np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
           for img in (read_letterboxed(f, imgsz) for f in files) if img is not None]
    if not out:
        raise DataError(f"calibration data {data}: none of {len(files)} images could be read",
                        hint="check the image files")
    return out
