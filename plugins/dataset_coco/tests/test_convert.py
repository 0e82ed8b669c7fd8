"""coco2yolo: layout, round-trip accuracy, crowd/multi-part reporting, and the result loads as YOLO."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml
from segctl_dataset_coco.convert import coco2yolo
from segctl_dataset_coco.geometry import mask_iou

H, W = 96, 128
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _fill(poly_px: np.ndarray) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.fillPoly(m, [np.round(poly_px).astype(np.int32).reshape(-1, 1, 2)], 1)
    return m


def _random_polygons(tmp_path, n_images=4):
    """Images with random star-shaped single-part polygons (float pixel coordinates)."""
    rng = np.random.default_rng(1)
    img_dir = tmp_path / "train2017"
    img_dir.mkdir()
    images, anns = [], []
    for i in range(1, n_images + 1):
        cv2.imwrite(str(img_dir / f"{i:03d}.jpg"), rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
        images.append({"id": i, "file_name": f"{i:03d}.jpg", "width": W, "height": H})
        for _ in range(3):
            k = int(rng.integers(5, 12))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            rad = rng.uniform(10, 30, k)
            c = rng.uniform(30, [W - 30, H - 30])
            pts = np.stack([c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)], 1)
            x0, y0 = pts.min(0)
            x1, y1 = pts.max(0)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 5, "iscrowd": 0,
                         "segmentation": [pts.reshape(-1).round(2).tolist()], "bbox": [x0, y0, x1 - x0, y1 - y0]})
    (tmp_path / "annotations").mkdir()
    path = tmp_path / "annotations" / "instances_train2017.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 5, "name": "blob"}]}))
    return path, images, anns


def test_round_trip_single_part_polygons_keep_iou(tmp_path):
    from pycocotools import mask as mu

    path, images, anns = _random_polygons(tmp_path)
    rep = coco2yolo(path, tmp_path / "yolo")
    assert rep.split == "train2017" and rep.images == 4 and rep.instances == len(anns)
    assert rep.joined == 0 and not rep.inexact
    worst = 1.0
    for im in images:
        lines = (tmp_path / "yolo" / "labels" / "train2017" / f"{im['id']:03d}.txt").read_text().splitlines()
        mine = [a for a in anns if a["image_id"] == im["id"]]
        assert len(lines) == len(mine)
        for line, a in zip(lines, mine):
            vals = line.split()
            assert vals[0] == "0"
            poly = np.array(vals[1:], float).reshape(-1, 2)
            assert poly.min() >= 0 and poly.max() <= 1
            src = np.array(a["segmentation"][0]).reshape(-1, 2)
            # same rasteriser on both sides: the conversion itself must not move the outline
            worst = min(worst, mask_iou(_fill(src), _fill(poly * [W, H])))
            # and COCO's own rasteriser on both sides
            m1 = mu.decode(mu.frPyObjects(a["segmentation"], H, W))[..., 0]
            m2 = mu.decode(mu.frPyObjects([(poly * [W, H]).reshape(-1).tolist()], H, W))[..., 0]
            worst = min(worst, mask_iou(m1, m2))
    assert worst >= 0.98, worst


def test_images_are_linked_and_yaml_merges_splits(tmp_path):
    path, _, _ = _random_polygons(tmp_path, n_images=2)
    out = tmp_path / "yolo"
    coco2yolo(path, out)
    val_json = tmp_path / "annotations" / "instances_val2017.json"
    val_json.write_text(path.read_text())
    (tmp_path / "val2017").symlink_to(tmp_path / "train2017")
    coco2yolo(val_json, out, copy=True)
    doc = yaml.safe_load((out / "data.yaml").read_text())
    assert doc["train"] == "images/train2017" and doc["val"] == "images/val2017"
    assert doc["names"] == {0: "blob"} and doc["nc"] == 1
    assert (out / "images" / "train2017" / "001.jpg").stat().st_size > 0
    assert not (out / "images" / "val2017" / "001.jpg").is_symlink()


def test_crowd_and_multi_part_are_reported(coco_json, tmp_path):
    rep = coco2yolo(coco_json, tmp_path / "out")
    assert rep.crowd_skipped == 1
    assert rep.joined == 3  # two-part polygon, ring RLE, uncompressed RLE
    assert rep.background == 2 and rep.images == 5
    assert rep.dropped_rows == 2
    text = rep.summary()
    assert "crowd" in text and "1 crowd" in text
    labels = (tmp_path / "out" / "labels" / "train" / "im2.txt").read_text().splitlines()
    assert len(labels) == 1 and labels[0].startswith("2 ")  # the ring; the crowd row is left out


def test_converted_dataset_loads_with_the_yolo_format(tmp_path):


    yolo = pytest.importorskip("segctl_dataset_yolo.format")
    path, images, anns = _random_polygons(tmp_path, n_images=3)
    rep = coco2yolo(path, tmp_path / "out")
    data = yaml.safe_load(open(rep.yaml_path))
    fmt = yolo.YOLOFormat()
    index = fmt.load(fmt.check_config(data, rep.yaml_path), "val", workers=0, cache=False)
    assert len(index) == 3 and index.report.instances == len(anns) and not index.report.issues
    assert index.names == {0: "blob"}
