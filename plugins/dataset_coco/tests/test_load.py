"""COCO JSON → DatasetIndex: polygons, multi-part, RLE (both forms), holes, crowd, id mapping, bad rows."""
from __future__ import annotations

import json

import numpy as np
import pytest
from segctl.errors import DataError
from segctl_dataset_coco.config import check_config
from segctl_dataset_coco.format import CocoFormat
from segctl_dataset_coco.geometry import decode, mask_iou, rasterize


H, W = 48, 64
SQUARE = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]


def load(path, **kw):
    return CocoFormat().load(check_config(None, path), "train", workers=0, **kw)


def by_name(index):
    return {r["im_file"].rsplit("/", 1)[-1]: r for r in index.records}


def test_category_ids_are_mapped_to_contiguous_indices(coco_json):
    index = load(coco_json)
    assert index.names == {0: "cat", 1: "dog", 2: "ring"}
    assert index.cat_ids == [2, 7, 9]
    assert index.format == "coco" and index.nc == 3


def test_single_and_multi_part_polygons(coco_json):
    r = by_name(load(coco_json))["im1.png"]
    assert r["shape"] == (H, W)
    assert r["cls"].tolist() == [0, 1]
    sq = r["segments"][0]
    assert sq.dtype == np.float32 and sq.shape == (4, 2)
    np.testing.assert_allclose(sq, np.array(SQUARE).reshape(-1, 2) / [W, H], atol=1e-6)
    assert r["rle"][0] is None  # one polygon is exact already
    np.testing.assert_allclose(r["bboxes"][0], [20 / W, 20 / H, 20 / W, 20 / H], atol=1e-6)
    # two parts: one bridged polygon holding all 8 vertices, plus the exact union as RLE
    multi = r["segments"][1]
    assert len(multi) >= 8
    assert r["rle"][1] is not None and isinstance(r["rle"][1]["counts"], str)
    exact = decode(r["rle"][1])
    assert exact[10, 45] == 1 and exact[30, 50] == 1 and exact[20, 45] == 0
    assert mask_iou(rasterize(multi, H, W), exact) > 0.8


def test_compressed_rle_with_hole_and_uncompressed_crowd(coco_json, kit):
    r = by_name(load(coco_json))["im2.png"]
    assert r["cls"].tolist() == [2, 0]
    assert r["iscrowd"].tolist() == [False, True]
    ring = decode(r["rle"][0])
    assert (ring == kit.ring_mask()).all()
    assert ring[24, 32] == 0  # the hole survives
    poly = rasterize(r["segments"][0], H, W)
    assert poly[24, 32] == 0, "bridge-joined polygon must leave the hole empty"
    assert mask_iou(poly, ring) > 0.9
    assert (decode(r["rle"][1]) == kit.crowd_mask()).all()


def test_uncompressed_rle_without_bbox_gets_box_from_mask(coco_json, kit):
    r = by_name(load(coco_json))["im3.png"]
    assert (decode(r["rle"][0]) == kit.ring_mask()).all()
    cx, cy, bw, bh = r["bboxes"][0]
    assert abs(cx - 32 / W) < 0.03 and abs(cy - 24 / H) < 0.03 and abs(bw - 37 / W) < 0.05


def test_background_images_and_bad_rows_are_reported(coco_json):
    index = load(coco_json)
    recs = by_name(index)
    assert len(index) == 5
    assert len(recs["im4.png"]["cls"]) == 0 and recs["im4.png"]["segments"] == []
    assert len(recs["im5.png"]["cls"]) == 0  # both of its rows were bad: kept as background
    assert index.report.empty == 2 and index.report.instances == 5
    reasons = [i.reason for i in index.report.issues if i.action == "dropped-row"]
    assert any("unknown category_id 4" in x for x in reasons)
    assert any("NaN" in x for x in reasons)
    with pytest.raises(DataError, match="strict"):
        load(coco_json, strict=True)


def test_coordinates_slightly_outside_are_clipped_far_outside_dropped(tmp_path, kit):
    anns = [{"id": 20, "image_id": 4, "category_id": 2, "segmentation": [[-1.5, 0, 20, 0, 20, 20]], "iscrowd": 0,
             "bbox": [0, 0, 20, 20]},
            {"id": 21, "image_id": 4, "category_id": 2, "segmentation": [[0, 0, 90, 0, 20, 20]], "iscrowd": 0,
             "bbox": [0, 0, 20, 20]}]
    index = load(kit.make_coco(tmp_path, extra_anns=anns))
    r = by_name(index)["im4.png"]
    assert len(r["cls"]) == 1 and r["segments"][0].min() >= 0
    actions = {i.action for i in index.report.issues if "annotation 20" in i.reason}
    assert actions == {"clipped"}
    assert any("id 21" in i.reason and "outside" in i.reason for i in index.report.issues)


def test_missing_and_broken_images_are_skipped(tmp_path, kit):
    path = kit.make_coco(tmp_path, extra_images=[{"id": 8, "file_name": "gone.png", "width": W, "height": H},
                                             {"id": 9, "file_name": "bad.png", "width": W, "height": H}])
    (tmp_path / "images" / "train" / "bad.png").write_bytes(b"not an image at all")
    index = load(path)
    skipped = {i.path.rsplit("/", 1)[-1]: i.reason for i in index.report.skipped}
    assert skipped["gone.png"].startswith("missing image")
    assert "bad.png" in skipped
    assert index.report.corrupt == 2 and len(index) == 5


def test_size_mismatch_is_skipped(tmp_path, kit):
    path = kit.make_coco(tmp_path)
    doc = json.loads(path.read_text())
    doc["images"][0]["width"] = 100
    path.write_text(json.dumps(doc))
    index = load(path)
    assert any("size mismatch" in i.reason for i in index.report.skipped)


def test_yaml_schema_with_explicit_images_and_names(tmp_path, kit):
    path = kit.make_coco(tmp_path)
    moved = tmp_path / "pics"
    (tmp_path / "images" / "train").rename(moved)
    data = {"path": str(tmp_path), "train": {"json": "annotations/instances_train.json", "images": "pics"},
            "val": "annotations/instances_train.json", "names": ["cat", "dog", "ring"]}
    cfg = check_config(data, tmp_path / "d.yaml")
    assert cfg["train"]["images"] == str(moved) and cfg["nc"] == 3
    assert len(CocoFormat().load(cfg, "train", workers=2)) == 5
    with pytest.raises(DataError, match="cannot find the image folder"):
        CocoFormat().load(cfg, "val")
    with pytest.raises(DataError, match="do not match"):
        check_config(dict(data, names=["a", "b", "c"]), tmp_path / "d.yaml")


def test_broken_json_is_a_clear_error(tmp_path, kit):
    p = tmp_path / "instances_x.json"
    p.write_text('{"images": [')
    with pytest.raises(DataError, match="cannot be read as JSON"):
        check_config(None, p)
    p.write_text(json.dumps({"images": [], "annotations": [], "categories": kit.CATS[:1] + [{"id": 2, "name": "x"}]}))
    with pytest.raises(DataError, match="appears twice"):
        check_config(None, p)
