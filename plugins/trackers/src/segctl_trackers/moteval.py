"""MOT metrics of a tracker's output against ground truth, with ``motmetrics`` (py-motmetrics).

Both files are MOTChallenge text: ``frame, id, left, top, width, height, conf, class, visibility,
...`` (segctl's ``save_txt`` in track mode writes exactly this). Matching is by box IoU >= 0.5, the
MOTChallenge convention; ground-truth rows below ``min_visibility`` are dropped (not counted as
misses), as the benchmark does for heavily occluded objects. Metrics: MOTA, MOTP, IDF1 (with IDP
and IDR), ID switches, fragmentations, mostly tracked / lost, false positives and misses.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from segctl.errors import DataError, MissingDependencyError

COLUMNS = ("mota", "idf1", "idp", "idr", "num_switches", "num_fragmentations", "mostly_tracked",
           "mostly_lost", "num_false_positives", "num_misses", "num_unique_objects", "motp", "precision", "recall")


def read_mot(path, min_visibility: float = 0.0) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{frame: (ids [n], boxes xywh [n, 4])}`` from a MOT text file; a malformed line is an
    error naming the file and line."""
    out: dict[int, list] = {}
    p = Path(path)
    if not p.is_file():
        raise DataError(f"MOT file not found: {p}", hint="ground truth: gt/gt.txt; predictions: track save_txt=true labels/<video>.txt")
    for n, line in enumerate(p.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.replace(" ", "").split(",")
        try:
            f, i, x, y, w, h = int(float(parts[0])), int(float(parts[1])), *map(float, parts[2:6])
            vis = float(parts[8]) if len(parts) > 8 and parts[8] not in ("", "-1") else 1.0
        except (ValueError, IndexError) as e:
            raise DataError(f"{p}:{n}: not a MOT row ({e}): {line[:80]!r}",
                            hint="rows are frame,id,left,top,width,height,conf,class,visibility") from e
        if vis < min_visibility:
            continue
        out.setdefault(f, []).append((i, x, y, w, h))
    return {f: (np.array([r[0] for r in rows]), np.array([r[1:] for r in rows], dtype=np.float64).reshape(-1, 4))
            for f, rows in out.items()}


def _iou_distance(gt_xywh: np.ndarray, pred_xywh: np.ndarray, iou: float) -> np.ndarray:
    """``1 - IoU``, NaN (no match allowed) where IoU < ``iou``: the distance motmetrics expects.
    (``motmetrics.distances.iou_matrix`` uses ``np.asfarray``, removed in NumPy 2.)"""
    from .matching import box_iou

    def xyxy(b):
        b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
        return np.c_[b[:, :2], b[:, :2] + b[:, 2:]]

    d = 1.0 - box_iou(xyxy(gt_xywh), xyxy(pred_xywh))
    d[d > 1.0 - iou] = np.nan
    return d


def evaluate(gt, pred, min_visibility: float = 0.0, iou: float = 0.5) -> dict[str, float]:
    """Metrics of ``pred`` against ``gt`` (paths of MOT files, or ``read_mot`` dicts)."""
    try:
        import motmetrics as mm
    except ImportError as e:
        raise MissingDependencyError("MOT metrics need motmetrics, which is not installed",
                                     hint="pip install motmetrics  (or: pip install segctl-trackers[eval])") from e
    g = read_mot(gt, min_visibility) if not isinstance(gt, dict) else gt
    p = read_mot(pred) if not isinstance(pred, dict) else pred
    acc = mm.MOTAccumulator(auto_id=False)
    for f in sorted(set(g) | set(p)):
        gi, gb = g.get(f, (np.zeros(0, int), np.zeros((0, 4))))
        pi, pb = p.get(f, (np.zeros(0, int), np.zeros((0, 4))))
        d = _iou_distance(gb, pb, iou)
        acc.update(gi.tolist(), pi.tolist(), d, frameid=f)
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=list(COLUMNS), name="seq")
    return {k: float(s[k].iloc[0]) for k in COLUMNS}


def table(results: dict[str, dict[str, float]], title: str = "MOT metrics"):
    """A rich table, one row per tracker."""
    from rich.table import Table

    t = Table(title=title, show_edge=False)
    heads = [("MOTA", "mota", "pct"), ("IDF1", "idf1", "pct"), ("IDSW", "num_switches", "int"),
             ("Frag", "num_fragmentations", "int"), ("MT", "mostly_tracked", "int"), ("ML", "mostly_lost", "int"),
             ("FP", "num_false_positives", "int"), ("FN", "num_misses", "int"), ("Prec", "precision", "pct"),
             ("Rec", "recall", "pct"), ("MOTP (1-IoU)", "motp", "f3")]
    t.add_column("tracker")
    for h, *_ in heads:
        t.add_column(h, justify="right")
    for name, m in results.items():
        cells = []
        for _, k, fmt in heads:
            v = m[k]
            cells.append(f"{100 * v:.1f}" if fmt == "pct" else f"{int(v)}" if fmt == "int" else f"{v:.3f}")
        t.add_row(name, *cells)
    return t


def main(argv=None) -> int:
    """``python -m segctl_trackers.moteval GT PRED [--min-visibility 0.2]``: print the metrics table."""
    import argparse

    from rich.console import Console

    ap = argparse.ArgumentParser(prog="python -m segctl_trackers.moteval", description="MOT metrics of PRED against GT")
    ap.add_argument("gt")
    ap.add_argument("pred", nargs="+")
    ap.add_argument("--min-visibility", type=float, default=0.0)
    a = ap.parse_args(argv)
    res = {Path(p).stem: evaluate(a.gt, p, a.min_visibility) for p in a.pred}
    Console().print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
