"""Parsing and checking one YOLO label file (``class x1 y1 x2 y2 ...`` normalised, one row per object).

Why row by row with explicit issues: a bad row must be reported with file, line and value and then
dropped on its own, so one typo neither crashes training nor silently turns into a wrong target.
Policy (see docs/datasets.md):

* coordinates within [-0.01, 1.01] are clipped to [0, 1] with a warning; beyond that the row is dropped;
* NaN/inf, non-numeric values, bad class ids, odd value counts and polygons with < 3 points drop the row;
* in a ``segment`` dataset a 4-coordinate (box) row is an error, never converted to a polygon;
* zero-area polygons are dropped; exact duplicate rows are removed with a count.
"""
from __future__ import annotations

import math

import numpy as np

from segctl.data import Issue

TOL = 0.01          # how far outside [0, 1] a coordinate may be and still be clipped
MIN_AREA_PX = 1e-2  # polygon area (pixels²) below which it is degenerate
# Caps (why: a label file is data from whoever made the dataset; each number costs memory and time
# linearly or worse later -- rasterising, resampling, the COCO bridge join). Far above real data.
MAX_LABEL_BYTES = 16 << 20  # one label file
MAX_ROWS = 10_000           # objects in one image
MAX_POINTS = 20_000         # vertices of one polygon


def decode_text(raw: bytes) -> str:
    """Bytes → text; a UTF-8 BOM is removed and CRLF/CR line ends are accepted."""
    text = raw.decode("utf-8-sig", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _polygon_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def parse_labels(raw: bytes, path: str, nc: int, shape: tuple[int, int], task: str = "segment"):
    """Parse one label file's bytes.

    :param shape: displayed image (h, w), used to judge degenerate polygons in pixels.
    :return: ``(cls, bboxes, segments, issues)``: int64 (n,), float32 (n, 4) normalised cxcywh,
        list of float32 (k, 2) normalised polygons (boxes as 4-point rectangles for ``detect``),
        and the list of :class:`Issue`.
    """
    h, w = shape
    issues: list[Issue] = []
    rows: list[tuple[int, tuple[float, ...]]] = []
    seen: set[tuple] = set()
    dups = 0

    def drop(line: int, reason: str) -> None:
        issues.append(Issue(path, reason, "dropped-row", line))

    if len(raw) > MAX_LABEL_BYTES:
        issues.append(Issue(path, f"label file too large: {len(raw):,} bytes (limit {MAX_LABEL_BYTES:,}); "
                                  "every row dropped", "dropped-row"))
        return (*_to_arrays([]), issues)
    for ln, line in enumerate(decode_text(raw).split("\n"), start=1):
        toks = line.split()
        if not toks:
            continue
        if len(rows) >= MAX_ROWS:
            drop(ln, f"too many objects: more than {MAX_ROWS} rows in one label file; this and later rows dropped")
            break
        if len(toks) > 2 * MAX_POINTS + 1:
            drop(ln, f"polygon with {(len(toks) - 1) // 2} points (limit {MAX_POINTS}); row dropped")
            continue
        ctok = toks[0]
        try:
            cval = float(ctok)
        except ValueError:
            drop(ln, f"bad class id: {ctok!r} is not a number (valid 0..{nc - 1}); row dropped")
            continue
        if not math.isfinite(cval) or cval != int(cval):
            drop(ln, f"bad class id: {ctok!r} is not an integer (valid 0..{nc - 1}); row dropped")
            continue
        c = int(cval)
        if c < 0 or c >= nc:
            drop(ln, f"bad class id: {c} out of range (valid 0..{nc - 1}, nc={nc}); row dropped")
            continue
        vals = []
        bad = None
        for t in toks[1:]:
            try:
                v = float(t)
            except ValueError:
                bad = f"non-numeric coordinate: {t!r}; row dropped"
                break
            if math.isnan(v):
                bad = f"NaN coordinate: {t!r}; row dropped"
                break
            if math.isinf(v):
                bad = f"infinite coordinate: {t!r}; row dropped"
                break
            vals.append(v)
        if bad:
            drop(ln, bad)
            continue
        n = len(vals)
        if n == 4 and task == "segment":
            drop(ln, "box row in a segment dataset: 4 coordinates, a polygon needs >= 6; row dropped")
            continue
        if n != 4 and n % 2:
            drop(ln, f"odd number of coordinates: {n} values after the class id; row dropped")
            continue
        if n != 4 and n < 6:
            drop(ln, f"polygon with {n // 2} points: needs >= 3 points (6 values); row dropped")
            continue
        worst = max(vals, key=lambda v: max(v - 1.0, -v))
        if worst > 1.0 + TOL or worst < -TOL:
            drop(ln, f"coordinate out of range: {worst:g} (valid 0..1, {TOL:g} tolerance); row dropped")
            continue
        if worst > 1.0 or worst < 0.0:
            issues.append(Issue(path, f"coordinate clipped: {worst:g} to [0, 1] (within {TOL:g} tolerance)",
                                "clipped", ln))
            vals = [min(max(v, 0.0), 1.0) for v in vals]
        key = (c, tuple(vals))
        if key in seen:
            dups += 1
            continue
        seen.add(key)
        if n == 4:  # detect task: a box (cx, cy, w, h)
            if vals[2] <= 0 or vals[3] <= 0:
                drop(ln, f"zero-size box: w={vals[2]:g} h={vals[3]:g}; row dropped")
                continue
        else:
            xy = np.asarray(vals, dtype=np.float64).reshape(-1, 2)
            if _polygon_area(xy * (w, h)) < MIN_AREA_PX:
                drop(ln, "zero-area polygon: all points on one line or identical; row dropped")
                continue
        rows.append(key)
    if dups:
        issues.append(Issue(path, f"duplicate rows: {dups} exact duplicate row(s) removed", "deduplicated"))
    return (*_to_arrays(rows), issues)


def _to_arrays(rows):
    """Rows → (cls, bboxes cxcywh, segments); a box row becomes its 4-corner polygon."""
    cls = np.array([c for c, _ in rows], dtype=np.int64)
    segs, boxes = [], []
    for _, vals in rows:
        if len(vals) == 4:
            cx, cy, bw, bh = vals
            x1, y1, x2, y2 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
            xy = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32).clip(0, 1)
        else:
            xy = np.asarray(vals, dtype=np.float32).reshape(-1, 2)
        segs.append(xy)
        lo, hi = xy.min(0), xy.max(0)
        boxes.append([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[0] - lo[0], hi[1] - lo[1]])
    bboxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return cls, bboxes, segs
