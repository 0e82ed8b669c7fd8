"""Entry-point module of segctl-dataset-coco: registers the ``coco`` format and recognises COCO data.

Light on purpose: no numpy/pycocotools here. Detection reads at most the first megabyte of a JSON
file, because COCO files can be hundreds of megabytes and detection runs for every ``data=``.
"""
from __future__ import annotations

import os

from segctl import hookimpl
from segctl.specs import DatasetFormatSpec

_PEEK = 1 << 20


@hookimpl
def segctl_register_datasets():
    return [DatasetFormatSpec(
        name="coco", target="segctl_dataset_coco.format:CocoFormat",
        requires=("numpy", "pycocotools", "cv2", "PIL"), install="pip install numpy pycocotools opencv-python-headless pillow",
        description="COCO instances JSON (polygons, RLE, iscrowd)")]


def _names_json(v) -> bool:
    if isinstance(v, dict):
        return "json" in v
    vals = v if isinstance(v, (list, tuple)) else [v]
    return any(isinstance(x, str) and x.lower().endswith(".json") for x in vals)


def looks_like_coco_json(path) -> bool:
    """A ``.json`` file whose opening holds an ``"images"`` key and an ``"annotations"`` or
    ``"categories"`` key (COCO puts ``images`` before the long ``annotations`` list)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_PEEK)
    except OSError:
        return False
    if b'"images"' not in head:
        return False
    if b'"annotations"' in head or b'"categories"' in head:
        return True
    return os.path.getsize(path) > _PEEK  # large file: "images" alone is a strong sign


@hookimpl
def segctl_detect_dataset(path, data):
    """A COCO JSON file, or a dataset YAML whose train/val/test name ``.json`` files."""
    if isinstance(data, dict):
        if any(_names_json(data.get(k)) for k in ("train", "val", "test")):
            return "coco"
        return None
    if path is not None and str(path).lower().endswith(".json") and os.path.isfile(path):
        return "coco" if looks_like_coco_json(path) else None
    return None
