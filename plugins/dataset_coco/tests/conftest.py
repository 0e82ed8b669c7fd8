"""A tiny hand-made COCO dataset covering every annotation form the loader must handle."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pycocotools import mask as mu

H, W = 48, 64
CATS = [{"id": 2, "name": "cat"}, {"id": 7, "name": "dog"}, {"id": 9, "name": "ring"}]


def ring_mask() -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (32, 24), 18, 1, -1)
    cv2.circle(m, (32, 24), 9, 0, -1)
    return m


def crowd_mask() -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    for x in (8, 16, 24):
        cv2.circle(m, (x, 40), 3, 1, -1)
    return m


def uncompressed(m: np.ndarray) -> dict:
    flat = m.reshape(-1, order="F")
    runs, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    return {"size": [H, W], "counts": [int(r) for r in runs]}


def compressed(m: np.ndarray) -> dict:
    r = mu.encode(np.asfortranarray(m))
    return {"size": r["size"], "counts": r["counts"].decode("ascii")}


SQUARE = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]


def make_coco(root, extra_anns=(), extra_images=()):
    """Write images and ``annotations/instances_train.json`` under ``root``; return the JSON path."""
    img_dir = root / "images" / "train"
    img_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        cv2.imwrite(str(img_dir / f"im{i}.png"), rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    images = [{"id": i, "file_name": f"im{i}.png", "width": W, "height": H} for i in range(1, 6)]
    anns = [
        # image 1: a single-part polygon and a two-part polygon
        {"id": 1, "image_id": 1, "category_id": 2, "segmentation": [SQUARE], "bbox": [10, 10, 20, 20], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 7, "bbox": [40, 5, 20, 30], "iscrowd": 0,
         "segmentation": [[40, 5, 50, 5, 50, 15, 40, 15], [45, 25, 60, 25, 60, 35, 45, 35]]},
        # image 2: ring with a hole as compressed RLE, crowd as uncompressed RLE
        {"id": 3, "image_id": 2, "category_id": 9, "segmentation": compressed(ring_mask()),
         "bbox": [14, 6, 37, 37], "iscrowd": 0},
        {"id": 4, "image_id": 2, "category_id": 2, "segmentation": uncompressed(crowd_mask()),
         "bbox": [5, 37, 23, 7], "iscrowd": 1},
        # image 3: uncompressed RLE without crowd flag, no bbox (derived from the mask)
        {"id": 5, "image_id": 3, "category_id": 7, "segmentation": uncompressed(ring_mask()), "iscrowd": 0},
        # image 4: no annotations at all (background); image 5: only bad rows
        {"id": 6, "image_id": 5, "category_id": 4, "segmentation": [SQUARE], "bbox": [10, 10, 20, 20], "iscrowd": 0},
        {"id": 7, "image_id": 5, "category_id": 2, "segmentation": [[1, 2, float("nan"), 4, 5, 6]],
         "bbox": [1, 2, 4, 4], "iscrowd": 0},
        *extra_anns,
    ]
    (root / "annotations").mkdir()
    path = root / "annotations" / "instances_train.json"
    path.write_text(json.dumps({"images": images + list(extra_images), "annotations": anns, "categories": CATS}))
    return path


@pytest.fixture
def coco_json(tmp_path):
    return make_coco(tmp_path)


@pytest.fixture
def kit():
    """This module's helpers (tests cannot import conftest by name under --import-mode=importlib)."""
    import sys

    return sys.modules[__name__]
