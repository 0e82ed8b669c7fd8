"""Tiny datasets for the data pipeline: images with known shapes drawn in, and matching records."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from segctl.data import DatasetIndex, VerifyReport


def _record(path, h, w, polys, cls=None):
    segs = [np.asarray(p, np.float32) for p in polys]
    boxes = [[(s[:, 0].min() + s[:, 0].max()) / 2, (s[:, 1].min() + s[:, 1].max()) / 2,
              s[:, 0].max() - s[:, 0].min(), s[:, 1].max() - s[:, 1].min()] for s in segs]
    return {"im_file": str(path), "shape": (h, w),
            "cls": np.asarray(cls if cls is not None else [0] * len(segs), np.int64),
            "bboxes": np.asarray(boxes, np.float32).reshape(-1, 4), "segments": segs}


class Maker:
    """Writes black images with white polygons (so pixels and labels can be compared)."""

    def __init__(self, root):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def image(self, name, h, w, polys, cls=None, fill=255):
        img = np.zeros((h, w, 3), np.uint8)
        for p in polys:
            cv2.fillPoly(img, [np.round(np.asarray(p) * (w, h)).astype(np.int32)], (fill, fill, fill))
        path = self.root / f"{name}.png"
        cv2.imwrite(str(path), img)
        return _record(path, h, w, polys, cls)

    def index(self, records, names=None):
        return DatasetIndex(names=names or {0: "a", 1: "b"}, records=records,
                            report=VerifyReport(found=len(records)), split="train", format="test")


@pytest.fixture
def maker(tmp_path):
    return Maker(tmp_path / "imgs")


TRIANGLE = [[0.2, 0.2], [0.8, 0.3], [0.4, 0.8]]
SQUARE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]


@pytest.fixture
def shapes():
    return {"triangle": TRIANGLE, "square": SQUARE}
