"""Hostile datasets: YOLO label files and COCO JSON with absurd values, and image decompression bombs.
Each file is crafted here; each must end as a clear issue naming the file (row dropped or image
skipped), never a raw exception, and within bounded time and memory."""
from __future__ import annotations

import json
import os
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("segctl_dataset_yolo")
from segctl.data import VerifyReport  # noqa: E402
from segctl_dataset_yolo.format import verify_one  # noqa: E402
from segctl_dataset_yolo.images import check_image  # noqa: E402

NAMES = {0: "a", 1: "b"}


@pytest.fixture
def image(tmp_path) -> str:
    path = tmp_path / "im.png"
    cv2.imwrite(str(path), np.full((32, 32, 3), 127, np.uint8))
    return str(path)


def _verify(image, tmp_path, text: str | bytes):
    lb = tmp_path / "im.txt"
    lb.write_bytes(text if isinstance(text, bytes) else text.encode())
    t = time.perf_counter()
    rec, issues, status = verify_one(image, str(lb), NAMES, "segment")
    assert time.perf_counter() - t < 5
    return rec, [str(i) for i in issues], status


def test_yolo_polygon_with_absurd_point_count_is_dropped(image, tmp_path):
    huge = "0 " + " ".join(["0.1 0.1 0.9 0.1 0.5 0.9"] * 10_000) + "\n1 0.1 0.1 0.9 0.1 0.5 0.9\n"
    rec, issues, status = _verify(image, tmp_path, huge)
    assert status == "ok" and rec["cls"].tolist() == [1]
    assert any("im.txt:1" in i and "30000 points (limit 20000)" in i for i in issues), issues


def test_yolo_too_many_rows_are_dropped_with_one_issue(image, tmp_path):
    rows = "".join(f"0 0.1 0.1 0.9 0.1 0.5 {0.2 + i * 1e-6:.7f}\n" for i in range(10_050))
    rec, issues, status = _verify(image, tmp_path, rows)
    assert len(rec["cls"]) == 10_000
    assert sum("too many objects" in i for i in issues) == 1 and "im.txt:10001" in issues[-1], issues[-3:]


def test_yolo_label_file_larger_than_the_cap(image, tmp_path):
    lb = tmp_path / "im.txt"
    with open(lb, "wb") as f:
        f.write(b"0 0.1 0.1 0.9 0.1 0.5 0.9\n")
        f.truncate(40 << 20)  # sparse: 40 MB of NULs after one valid row
    rec, issues, status = verify_one(image, str(lb), NAMES, "segment")
    assert rec is None and any("label file too large" in i.reason and str(lb) == i.path for i in issues), issues


def test_yolo_label_that_is_an_endless_device_is_read_bounded(image, tmp_path):
    """A label 'file' linked to /dev/zero must not be read forever."""
    os.symlink("/dev/zero", tmp_path / "im.txt")
    t = time.perf_counter()
    rec, issues, _ = verify_one(image, str(tmp_path / "im.txt"), NAMES, "segment")
    assert time.perf_counter() - t < 5 and rec is None
    assert any("label file too large" in i.reason for i in issues), issues


@pytest.mark.parametrize("row, words", [
    ("abc 0.1 0.1 0.9 0.1 0.5 0.9", "not a number"),
    ("0 0.1 x 0.9 0.1 0.5 0.9", "non-numeric coordinate"),
    ("0 0.1 nan 0.9 0.1 0.5 0.9", "NaN"),
    ("0 0.1 1e308 0.9 0.1 0.5 0.9", "out of range"),
    ("99999999999999999999 0.1 0.1 0.9 0.1 0.5 0.9", "out of range"),
])
def test_yolo_non_numeric_and_absurd_fields(image, tmp_path, row, words):
    rec, issues, status = _verify(image, tmp_path, row + "\n1 0.1 0.1 0.9 0.1 0.5 0.9\n")
    assert any("im.txt:1" in i and words in i for i in issues), issues


# ------------------------------------------------------------------ decompression bombs

def png_bomb(path: Path, w: int, h: int) -> Path:
    """A real, valid grayscale PNG of w x h zeros: a few hundred KB that decode to w*h bytes (x3 as BGR)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    z = zlib.compressobj(9)
    row = b"\0" * (w + 1)  # filter byte + pixels
    body = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def test_image_bomb_is_skipped_before_decoding(tmp_path, isolated, refused):
    """11 000 x 11 000 (121 Mpx, 363 MB as BGR) from a ~120 KB file: skipped from its header."""
    bomb = png_bomb(tmp_path / "bomb.png", 11_000, 11_000)
    assert bomb.stat().st_size < 1_000_000
    shape, reason = check_image(str(bomb))
    assert shape is None and "image too large: 11000x11000" in reason and "not decoded" in reason
    rep = isolated([{"name": "check", "op": "check", "path": str(bomb)},
                    {"name": "predict", "op": "read", "path": str(bomb)}],
                   ops={"check": "segctl_dataset_yolo.images:check_image",
                        "read": "segctl_tasks_segment.sources:read_image"})
    assert rep["check"]["error"] is None and rep["predict"]["error"] is None
    assert rep["predict"]["rss_mb"] < 100 and rep["predict"]["seconds"] < 5, rep


def test_image_limit_can_be_raised(tmp_path, monkeypatch):
    bomb = png_bomb(tmp_path / "big.png", 1200, 1000)
    monkeypatch.setenv("SEGCTL_MAX_IMAGE_PIXELS", "1000000")
    assert "image too large: 1200x1000" in check_image(str(bomb))[1]
    monkeypatch.setenv("SEGCTL_MAX_IMAGE_PIXELS", "2000000")
    assert check_image(str(bomb)) == ((1000, 1200), "")


# ------------------------------------------------------------------ COCO JSON

def _coco(tmp_path, images, annotations):
    from segctl_dataset_coco.format import CocoFormat

    img_dir = tmp_path / "images"
    img_dir.mkdir(exist_ok=True)
    cv2.imwrite(str(img_dir / "a.png"), np.full((48, 64, 3), 90, np.uint8))
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "x"}]}
    jpath = tmp_path / "instances.json"
    jpath.write_text(json.dumps(doc))
    report = VerifyReport()
    t = time.perf_counter()
    recs = CocoFormat._records(doc, jpath, img_dir, {1: 0}, "segment", 0, report)
    assert time.perf_counter() - t < 5
    return recs, [str(i) for i in report.issues]


GOOD = {"id": 1, "file_name": "a.png", "width": 64, "height": 48}
POLY = [[10, 10, 50, 10, 30, 40]]


@pytest.mark.parametrize("entry, words", [
    ({"id": 2, "file_name": "../secret.png"}, "leads outside the image folder"),
    ({"id": 2, "file_name": "sub/../../secret.png"}, "leads outside the image folder"),
    ({"id": 2, "file_name": "a.png", "width": "abc", "height": 48}, "'width' 'abc' must be a positive integer"),
    ({"id": [2], "file_name": "a.png"}, "'id' [2] must be an integer or string"),
    ({"id": 2, "file_name": 7}, "'file_name' 7 must be a non-empty string"),
    ("not-a-dict", "not an object"),
])
def test_coco_bad_image_entries_are_skipped_naming_the_entry(tmp_path, entry, words):
    secret = tmp_path / "secret.png"
    cv2.imwrite(str(secret), np.zeros((20, 20, 3), np.uint8))
    atime = secret.stat().st_atime_ns
    recs, issues = _coco(tmp_path, [GOOD, entry], [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": POLY}])
    assert [Path(r["im_file"]).name for r in recs] == ["a.png"]
    assert any("instances.json" in i and "images[1]" in i and words in i for i in issues), issues
    assert secret.stat().st_atime_ns == atime  # the file outside was never opened


@pytest.mark.parametrize("seg, words", [
    ({"size": "ab", "counts": "xyz"}, "RLE size 'ab' must be [height, width] integers"),
    ({"size": [48, 64], "counts": {"a": 1}}, "RLE counts must be a string or a list"),
    ([[10, 10, 50, 10, 30, 40]] * 2_000, "2000 polygon parts (limit 1000)"),
    ([list(np.tile([10.0, 10, 50, 10, 30, 40], 4_000))] * 2, "polygon with 24000 points (limit 20000)"),
])
def test_coco_absurd_segmentations_are_dropped(tmp_path, seg, words):
    anns = [{"id": 5, "image_id": 1, "category_id": 1, "segmentation": seg, "bbox": [1, 1, 5, 5]},
            {"id": 6, "image_id": 1, "category_id": 1, "segmentation": POLY}]
    recs, issues = _coco(tmp_path, [GOOD], anns)
    assert len(recs[0]["cls"]) == 1
    assert any("id 5" in i and words in i for i in issues), issues


def test_coco_bridge_join_of_large_parts_is_bounded(tmp_path):
    """Two 5 000-point parts (under the cap) join without a 5000 x 5000 x 2 distance matrix (400 MB)."""
    import resource

    from segctl_dataset_coco.geometry import bridge_join

    t = np.linspace(0, 2 * np.pi, 5_000, endpoint=False)
    a = np.stack([20 + 10 * np.cos(t), 20 + 10 * np.sin(t)], 1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    poly = bridge_join([a, a + 30])
    assert len(poly) == 10_002 and time.perf_counter() - start < 10
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 100
