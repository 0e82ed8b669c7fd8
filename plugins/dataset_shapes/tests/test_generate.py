"""The shapes generator: determinism, speed, label validity, COCO JSON validity, visible-part labels."""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from segctl.errors import UsageError
from segctl_dataset_shapes.draw import CLASSES
from segctl_dataset_shapes.generate import generate

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return Path(generate(root, n_train=12, n_val=4, imgsz=128, seed=3)).parent


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path):
    a = Path(generate(tmp_path / "a", n_train=5, n_val=2, imgsz=96, seed=7, yaml_root="/x")).parent
    b = Path(generate(tmp_path / "b", n_train=5, n_val=2, imgsz=96, seed=7, yaml_root="/x")).parent
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys() and len(fa) == 2 * 7 + 2 + 2
    assert fa == fb
    c = Path(generate(tmp_path / "c", n_train=5, n_val=2, imgsz=96, seed=8, yaml_root="/x")).parent
    assert _files(c)["images/train/000000.jpg"] != fa["images/train/000000.jpg"]


def test_val_split_does_not_depend_on_train_size(tmp_path):
    a = Path(generate(tmp_path / "a", n_train=2, n_val=2, imgsz=64)).parent
    b = Path(generate(tmp_path / "b", n_train=4, n_val=2, imgsz=64)).parent
    assert (a / "labels/val/000001.txt").read_bytes() == (b / "labels/val/000001.txt").read_bytes()


def test_fast_enough(tmp_path):
    t = time.perf_counter()
    generate(tmp_path, n_train=24, n_val=8, imgsz=320)
    per_image = (time.perf_counter() - t) / 32
    # ~20 ms per 320 px image on one free core; generous for a shared CI machine
    assert per_image < 0.15, per_image


def test_yaml_and_layout(small):
    doc = yaml.safe_load((small / "data.yaml").read_text())
    assert doc["names"] == dict(enumerate(CLASSES)) and doc["nc"] == 7
    assert doc["path"] == str(small.resolve()) and doc["train"] == "images/train"
    assert len(list((small / "images/train").glob("*.jpg"))) == 12
    assert len(list((small / "labels/val").glob("*.txt"))) == 4
    cdoc = yaml.safe_load((small / "data-coco.yaml").read_text())
    assert cdoc["format"] == "coco" and cdoc["val"]["json"] == "annotations/instances_val.json"


def test_yolo_labels_are_valid(small):
    seen = set()
    for f in (small / "labels").rglob("*.txt"):
        for line in f.read_text().splitlines():
            vals = line.split()
            cls = int(vals[0])
            assert 0 <= cls < len(CLASSES)
            seen.add(cls)
            xy = np.array(vals[1:], float)
            assert len(xy) % 2 == 0 and len(xy) >= 6
            assert xy.min() >= 0.0 and xy.max() <= 1.0
            assert np.isfinite(xy).all()
    assert len(seen) >= 5  # 16 images hold most classes


def test_coco_json_is_valid_and_matches_labels(small):
    from pycocotools import mask as mu
    from pycocotools.coco import COCO

    for split in ("train", "val"):
        path = small / "annotations" / f"instances_{split}.json"
        coco = COCO(str(path))
        assert sorted(coco.getCatIds()) == [1, 3, 5, 7, 9, 11, 13]
        doc = json.loads(path.read_text())
        for im in doc["images"]:
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[im["id"]]))
            lines = (small / "labels" / split / im["file_name"].replace(".jpg", ".txt")).read_text().splitlines()
            normal = [a for a in anns if not a["iscrowd"]]
            assert len(lines) == len(normal)
            for a, line in zip(normal, lines):
                assert int(line.split()[0]) == (a["category_id"] - 1) // 2
                m = coco.annToMask(a)
                assert m.shape == (im["height"], im["width"])
                assert abs(int(m.sum()) - a["area"]) <= 0.15 * a["area"] + 20
                if isinstance(a["segmentation"], dict):  # RLE: exact visible mask
                    assert int(mu.area(a["segmentation"])) == int(a["area"])
        crowd = [a for a in doc["annotations"] if a["iscrowd"]]
        assert len(crowd) == (1 if split == "train" else 0)
        if crowd:
            assert isinstance(crowd[0]["segmentation"]["counts"], list)  # uncompressed RLE
            assert coco.annToMask(crowd[0]).sum() == crowd[0]["area"]


def test_rings_keep_their_hole_in_both_formats(tmp_path):
    from pycocotools import mask as mu

    root = Path(generate(tmp_path, n_train=30, n_val=1, imgsz=160, seed=0)).parent
    doc = json.loads((root / "annotations/instances_train.json").read_text())
    rings = [a for a in doc["annotations"] if a["category_id"] == 13 and isinstance(a["segmentation"], dict)]
    assert rings, "expected some unoccluded rings (RLE) in 30 images"
    checked = 0
    for a in rings:
        exact = mu.decode(a["segmentation"])
        im = next(i for i in doc["images"] if i["id"] == a["image_id"])
        lines = (root / "labels/train" / im["file_name"].replace(".jpg", ".txt")).read_text().splitlines()
        best = 0.0
        for line in lines:
            v = line.split()
            if v[0] != "6":
                continue
            m = np.zeros(exact.shape, np.uint8)
            cv2.fillPoly(m, [np.round(np.array(v[1:], float).reshape(-1, 2) * 160).astype(np.int32)], 1)
            inter, union = (m & exact).sum(), (m | exact).sum()
            best = max(best, inter / union)
        assert best > 0.9, best  # the YOLO ring polygon (bridge cut) matches the exact annulus
        checked += 1
    assert checked


def test_bad_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="at least 1"):
        generate(tmp_path, n_train=0)
    with pytest.raises(UsageError, match="too small"):
        generate(tmp_path, imgsz=16)


def test_visible_masks_are_disjoint_and_mostly_visible():
    from segctl_dataset_shapes.generate import MIN_VISIBLE, render

    for i in range(20):
        img, objs, crowd = render(np.random.default_rng([0, 9, i]), 128, crowd=(i == 0))
        assert img.shape == (128, 128, 3) and img.dtype == np.uint8
        union = np.zeros((128, 128), np.int32) if crowd is None else crowd.astype(np.int32)
        for cls, vis in objs:
            assert 0 <= cls < 7 and vis.sum() >= 20
            union += vis
        assert union.max() <= 1, "visible masks of different objects (and the crowd) must not overlap"
    assert MIN_VISIBLE == 0.2
