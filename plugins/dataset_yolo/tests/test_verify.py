"""Verification policy (RELIABILITY.md section B, tests 13-18 and 22's CRLF/BOM)."""
from __future__ import annotations

import hashlib
import logging

import numpy as np
import pytest
from PIL import Image

from segctl.errors import DataError

SQUARE = "0 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75"


def _issues(idx, path_part=""):
    return [i for i in idx.report.issues if path_part in i.path]


def test_broken_images_skipped_and_untouched(ds):
    ds.add("good")
    full = ds.write_image(ds.root / "tmp" / "x.jpg", 64, 64).read_bytes()
    bad = {
        "truncated": full[: len(full) // 2],
        "noeoi": full[:-2],
        "random": np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8).tobytes(),
        "zero": b"",
    }
    for name, data in bad.items():
        ds.add(name)
        (ds.root / "images" / "train" / f"{name}.jpg").write_bytes(data)
    ds.add("tiny", h=8, w=8)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ds.root / "images" / "train").iterdir()}
    idx = ds.load(workers=2)
    assert [r["im_file"].rsplit("/", 1)[1] for r in idx.records] == ["good.jpg"]
    skipped = {i.path.rsplit("/", 1)[1]: i.reason for i in idx.report.skipped}
    assert set(skipped) == {"truncated.jpg", "noeoi.jpg", "random.jpg", "zero.jpg", "tiny.jpg"}
    assert "FFD9" in skipped["noeoi.jpg"] and "0 bytes" in skipped["zero.jpg"]
    assert "not an image" in skipped["random.jpg"] and "8x8" in skipped["tiny.jpg"]
    assert idx.report.corrupt == 5 and idx.report.found == 6
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ds.root / "images" / "train").iterdir()}
    assert before == after


@pytest.mark.parametrize("value,action,needle", [
    ("1.2", "dropped-row", "coordinate out of range: 1.2"),
    ("-0.2", "dropped-row", "coordinate out of range: -0.2"),
    ("1.005", "clipped", "coordinate clipped: 1.005"),
    ("nan", "dropped-row", "NaN coordinate"),
])
def test_coordinates(ds, value, action, needle):
    ds.add("a", f"{SQUARE}\n1 0.1 0.1 {value} 0.1 0.5 0.9\n")
    idx = ds.load(workers=0)
    (issue,) = _issues(idx, "a.txt")
    assert issue.action == action and needle in issue.reason and issue.line == 2
    n = 2 if action == "clipped" else 1
    assert len(idx.records[0]["cls"]) == n
    if action == "clipped":
        assert idx.records[0]["segments"][1].max() <= 1.0


@pytest.mark.parametrize("cls,needle", [("5", "5 out of range (valid 0..1"), ("0.5", "'0.5' is not an integer"),
                                        ("cat", "'cat' is not a number")])
def test_bad_class_ids(ds, cls, needle):
    ds.add("a", f"{SQUARE}\n{cls} 0.1 0.1 0.5 0.1 0.5 0.9\n")
    idx = ds.load(workers=0)
    (issue,) = _issues(idx, "a.txt")
    assert needle in issue.reason and "row dropped" in issue.reason and issue.line == 2
    assert issue.path.endswith("a.txt")
    assert idx.records[0]["cls"].tolist() == [0]


def test_malformed_polygons(ds):
    rows = [SQUARE, "1 0.1 0.1 0.5 0.5", "1 0.1 0.1 0.5 0.5 0.9", "1 0.1 0.1 0.2 0.2 0.3 0.3",
            "1 0.5 0.5 0.2 0.2"]
    ds.add("a", "\n".join(rows) + "\n")
    idx = ds.load(workers=0)
    got = {i.line: i.reason for i in _issues(idx, "a.txt")}
    assert set(got) == {2, 3, 4, 5}
    assert "box row in a segment dataset" in got[2] and "box row" in got[5]
    assert "odd number of coordinates: 5" in got[3]
    assert "zero-area polygon" in got[4]
    assert idx.records[0]["cls"].tolist() == [0]
    from segctl_dataset_yolo.labels import parse_labels
    *_, issues = parse_labels(b"0 0.1 0.1 0.5 0.5 0.2 0.3 0.4\n", "x.txt", 2, (64, 64))
    assert "odd number of coordinates: 7" in issues[0].reason
    # detect task: 4-value rows are boxes
    cls, boxes, segs, issues = parse_labels(b"1 0.5 0.5 0.2 0.2\n", "x.txt", 2, (64, 64), task="detect")
    assert cls.tolist() == [1] and np.allclose(boxes, [[0.5, 0.5, 0.2, 0.2]]) and not issues


def test_polygon_with_two_points_message():
    from segctl_dataset_yolo.labels import parse_labels

    # 6 values after the class id but only if even; with task detect a 2-point row is a box, so use 2 pts + odd
    *_, issues = parse_labels(b"0 0.1 0.1 0.5 0.5 0.9 0.1\n0 0.1 0.1 0.5 0.5 0.9 0.1 0.3 0.3 0.1 0.2\n",
                              "x.txt", 2, (64, 64))
    assert issues == []
    *_, issues = parse_labels(b"0 0.1 0.1\n", "x.txt", 2, (64, 64))
    assert "polygon with 1 points" in issues[0].reason


def test_duplicates(ds):
    other = "0 0.5 0.25 0.75 0.5 0.5 0.75 0.25 0.5"  # same class and box, different polygon
    ds.add("a", f"{SQUARE}\n{SQUARE}\n{SQUARE}\n{other}\n")
    idx = ds.load(workers=0)
    (issue,) = _issues(idx, "a.txt")
    assert issue.action == "deduplicated" and "2 exact duplicate" in issue.reason
    assert len(idx.records[0]["cls"]) == 2


def test_missing_vs_empty_and_strict(ds):
    ds.add("a")
    ds.add("missing", label=None)
    ds.add("empty", label="")
    ds.add("blank", label="\r\n  \n")
    idx = ds.load(workers=0)
    assert len(idx) == 4 and idx.report.missing == 1 and idx.report.empty == 2
    reasons = {i.path.rsplit("/", 1)[1]: i.reason for i in idx.report.issues}
    assert reasons["missing.txt"].startswith("missing label file")
    assert reasons["empty.txt"].startswith("empty label file")
    assert idx.report.skipped == []
    with pytest.raises(DataError, match="1 image.* no label file .strict"):
        ds.load(workers=0, strict=True)


def test_all_rows_invalid_skips_image(ds):
    ds.add("a", "7 0.1 0.1 0.5 0.1 0.5 0.9\n")
    idx = ds.load(workers=0)
    assert len(idx) == 0 and idx.report.skipped[0].reason.startswith("no valid label rows")


def test_crlf_and_bom(ds):
    ds.add("a", ("\ufeff" + SQUARE + "\r\n" + SQUARE.replace("0 ", "1 ", 1) + "\r\n").encode("utf-8"))
    idx = ds.load(workers=0)
    assert idx.report.issues == [] and idx.records[0]["cls"].tolist() == [0, 1]


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_shape_is_displayed_shape(ds, orientation):
    im = ds.add("a")
    img = Image.fromarray(np.zeros((32, 64, 3), np.uint8))  # stored 64 wide x 32 high
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(im, exif=exif)
    idx = ds.load(workers=0)
    assert idx.records[0]["shape"] == (64, 32)


def test_parallel_matches_serial(ds):
    for k in range(6):
        ds.add(f"i{k}", f"{SQUARE}\n1 0.1 0.1 0.{k + 2} 0.1 0.5 0.9\n", seed=k)
    a = ds.load(workers=0, cache=False)
    b = ds.load(workers=3, cache=False)
    assert [r["im_file"] for r in a.records] == [r["im_file"] for r in b.records]
    assert all(np.array_equal(x["bboxes"], y["bboxes"]) for x, y in zip(a.records, b.records))


def test_issues_logged(ds, caplog):
    ds.add("a", f"{SQUARE}\ncat 0.1 0.1 0.5 0.1 0.5 0.9\n")
    with caplog.at_level(logging.WARNING, logger="segctl.data"):
        ds.load(workers=0)
    assert "a.txt:2: bad class id" in caplog.text


def test_png_and_bmp_images_are_accepted(tmp_path):
    """Regression: verify() must run right after open, so EXIF is read from a second open."""
    import cv2
    import numpy as np

    from segctl_dataset_yolo.images import check_image

    for ext in (".png", ".bmp"):
        p = tmp_path / f"img{ext}"
        cv2.imwrite(str(p), np.zeros((40, 50, 3), np.uint8))
        assert check_image(str(p)) == ((40, 50), "")
