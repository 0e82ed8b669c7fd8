"""Entry-point module of segctl-dataset-yolo: registers the ``yolo`` format and detects it.

Light on purpose: nothing heavy is imported here; the format object is loaded by name on use.
"""
from __future__ import annotations

import os

from segctl import hookimpl
from segctl.specs import DatasetFormatSpec


@hookimpl
def segctl_register_datasets():
    return [DatasetFormatSpec(
        name="yolo", target="segctl_dataset_yolo.format:YOLOFormat",
        requires=("numpy", "PIL"), install="pip install numpy pillow",
        description="YOLO txt labels (polygons or boxes) + dataset YAML")]


def _is_json(v) -> bool:
    """A split naming a .json file or given as a mapping ({json: ..., images: ...}) is not YOLO."""
    vals = v if isinstance(v, (list, tuple)) else [v]
    return any(isinstance(x, dict) or (isinstance(x, str) and x.lower().endswith(".json")) for x in vals)


@hookimpl
def segctl_detect_dataset(path, data):
    """A YAML with train/val pointing at images (no COCO .json) or a folder with images/ + labels/."""
    if isinstance(data, dict):
        fmt = data.get("format")
        if fmt is not None:
            return "yolo" if str(fmt).lower() == "yolo" else None
        if any(k in data for k in ("train", "val")) and not any(_is_json(data.get(k)) for k in ("train", "val", "test")):
            return "yolo"
        return None
    if path and os.path.isdir(path):
        if os.path.isdir(os.path.join(path, "images")) and os.path.isdir(os.path.join(path, "labels")):
            return "yolo"
    return None
