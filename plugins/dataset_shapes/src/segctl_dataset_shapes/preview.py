"""Draw a YOLO-labelled image with its polygons overlaid, side by side with the original.

Why: label bugs (shifted coordinates, a hole filled in, a wrong class) are obvious to the eye and
hard to assert. ``segctl data demo --preview`` writes one such picture next to the dataset.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

_COLORS = [(255, 80, 80), (80, 255, 80), (80, 80, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 255)]


def overlay(image: str | Path, label: str | Path, names: dict[int, str] | None = None) -> np.ndarray:
    """BGR image: the original on the left; on the right each polygon filled half-transparent in
    its class colour, outlined, and named at its centroid."""
    img = cv2.imread(str(image))
    h, w = img.shape[:2]
    out = img.copy()
    for line in Path(label).read_text().splitlines():
        vals = line.split()
        if len(vals) < 7:
            continue
        cls = int(vals[0])
        pts = np.round(np.array(vals[1:], float).reshape(-1, 2) * [w, h]).astype(np.int32)
        color = np.array(_COLORS[cls % len(_COLORS)], np.float32)
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [pts.reshape(-1, 1, 2)], 1)
        sel = m.astype(bool)
        out[sel] = (0.5 * out[sel] + 0.5 * color).astype(np.uint8)
        cv2.polylines(out, [pts.reshape(-1, 1, 2)], True, tuple(float(c) for c in color), 1)
        text = (names or {}).get(cls, str(cls))
        cx, cy = pts.mean(0).astype(int)
        cv2.putText(out, text, (int(cx) - 12, int(cy)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([img, out], 1)


def write_preview(root: str | Path, out_png: str | Path, split: str = "train", count: int = 4) -> Path:
    """Stack overlays of the first ``count`` images of ``split`` into one PNG."""
    import yaml

    root = Path(root)
    names = yaml.safe_load((root / "data.yaml").read_text()).get("names")
    imgs = sorted((root / "images" / split).glob("*.jpg"))[:count]
    tiles = [overlay(p, root / "labels" / split / (p.stem + ".txt"), names) for p in imgs]
    cv2.imwrite(str(out_png), np.concatenate(tiles, 0))
    return Path(out_png)
