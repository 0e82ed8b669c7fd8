"""``val slice=...`` on a large-image set made at test time from the fixture images (3 × 3 labelled
images per canvas): with the whole canvas letterboxed to 320 the shapes are 3× smaller than the
fixture model knows them; tiles of 320 show them at their own size, so recall must rise."""
from pathlib import Path

import pytest

from segctl import YOLO
from segctl_tasks_segment.slicing_demo import make_canvas_set

ROOT = Path(__file__).resolve().parents[4]
FIX = ROOT / "tests" / "fixtures" / "ultralytics"


@pytest.mark.slow
def test_sliced_val_finds_small_objects_that_whole_image_val_misses(tmp_path):
    model = YOLO(str(FIX / "yolov8n-seg-shapes.pt"))
    yaml = make_canvas_set(FIX / "images", tmp_path / "big", dict(model.names), grid=3, n_images=1)
    kw = dict(data=str(yaml), imgsz=320, conf=0.01, batch=4, backend="torch", plots=False, verbose=False,
              workers=0, project=str(tmp_path / "runs"))
    full = model.val(**kw)
    sliced = model.val(slice=320, slice_overlap=0.25, **kw)
    assert sliced.seg.mr > full.seg.mr + 0.1, (sliced.seg.mr, full.seg.mr)
    assert sliced.seg.map50 > full.seg.map50 + 0.1, (sliced.seg.map50, full.seg.map50)
    assert sliced.box.mr > full.box.mr


def test_canvas_set_moves_labels_with_the_images(tmp_path):
    import cv2
    import numpy as np

    yaml = make_canvas_set(FIX / "images", tmp_path / "big", {i: str(i) for i in range(7)}, grid=2, n_images=1, gap=10)
    im = cv2.imread(str(tmp_path / "big" / "images" / "canvas000.jpg"))
    assert im.shape[:2] == (2 * 320 + 3 * 10, 2 * 320 + 3 * 10)
    lines = (tmp_path / "big" / "labels" / "canvas000.txt").read_text().split("\n")
    n_src = sum(len((FIX / "images" / f"00000{i}.txt").read_text().strip().splitlines()) for i in range(4))
    assert len([ln for ln in lines if ln]) == n_src  # 4 cells = the 4 fixture images, every object kept
    xy = np.array([float(v) for ln in lines if ln for v in ln.split()[1:]])
    assert 0 <= xy.min() and xy.max() <= 1
    assert "val: images" in yaml.read_text()
