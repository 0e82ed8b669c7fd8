"""Calibration images for post-training int8 quantisation (OpenVINO, TensorRT, ...), read from ``data=``.

Why its own module: int8 accuracy depends on the activations seen during calibration, so they must
be real images prepared exactly as at inference (letterboxed to ``imgsz`` with grey 114 padding,
RGB, 0..1, NCHW). ``data=`` is either a dataset the session can resolve (a dataset YAML, a
registered name such as ``shapes-seg``) — its ``val`` split is used, else ``train`` — or a plain
folder of images. Nothing is downloaded: without ``data=`` int8 export is refused.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from segctl.errors import DataError, UsageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: more images barely change the activation ranges but cost export time
MAX_IMAGES = 300


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


def image_files(data: Any, session: Any) -> list[str]:
    """The image paths ``data=`` names (see the module docstring)."""
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
    split = "val" if cfg.get("val") else "train"
    index = fmt.load(cfg, split, task="segment")
    files = [r["im_file"] for r in index.records]
    if not files:
        raise DataError(f"calibration data {data}: split {split!r} has no usable images",
                        hint="check it with: segctl data check data=...")
    return files


def calibration_images(data: Any, session: Any, imgsz: list[int], fraction: float = 1.0,
                       limit: int = MAX_IMAGES) -> list:
    """Float32 arrays ``[1, 3, h, w]`` (0..1 RGB), at most ``limit``, the first ``fraction`` of the files."""
    import cv2
    import numpy as np

    files = image_files(data, session)
    n = min(limit, max(1, int(len(files) * float(fraction or 1.0))))
    out = []
    for f in files[:n]:
        img = cv2.imread(f, cv2.IMREAD_COLOR)
        if img is None:
            continue
        img = letterbox(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (int(imgsz[0]), int(imgsz[1])))
        out.append(np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0)
    if not out:
        raise DataError(f"calibration data {data}: none of {n} images could be read", hint="check the image files")
    return out
