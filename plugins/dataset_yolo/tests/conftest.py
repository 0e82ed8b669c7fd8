"""Small YOLO datasets built in tmp_path (real images written with OpenCV)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

SQUARE = "0 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75"


def write_image(path: Path, h: int = 64, w: int = 64, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(path), img)
    return path


class DS:
    """Helper to add images/labels under root/images/<split> and root/labels/<split>."""

    def __init__(self, root: Path, names=("a", "b")):
        self.root = root
        self.names = list(names)

    def add(self, name: str, label: str | bytes | None = SQUARE + "\n", split: str = "train", **kw) -> Path:
        im = write_image(self.root / "images" / split / f"{name}.jpg", **kw)
        if label is not None:
            lb = self.root / "labels" / split / f"{name}.txt"
            lb.parent.mkdir(parents=True, exist_ok=True)
            lb.write_bytes(label if isinstance(label, bytes) else label.encode())
        return im

    @staticmethod
    def write_image(path: Path, h: int = 64, w: int = 64, seed: int = 0) -> Path:
        return write_image(path, h, w, seed)

    def label(self, name: str, split: str = "train") -> Path:
        return self.root / "labels" / split / f"{name}.txt"

    def data(self, **over) -> dict:
        from segctl_dataset_yolo.format import YOLOFormat

        (self.root / "images" / "val").mkdir(parents=True, exist_ok=True)
        d = {"path": str(self.root), "train": "images/train", "val": "images/train", "names": self.names}
        d.update(over)
        return YOLOFormat.check_config(d, None)

    def load(self, split="train", **kw):
        from segctl_dataset_yolo.format import YOLOFormat

        data = kw.pop("data", None) or self.data()
        return YOLOFormat().load(data, split, **kw)


@pytest.fixture
def ds(tmp_path):
    return DS(tmp_path / "ds")
