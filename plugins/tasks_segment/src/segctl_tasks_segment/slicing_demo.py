"""A "large images, small objects" set made from any YOLO-segment folder (images + polygon labels).

Why: sliced inference needs an evaluation set where objects are small relative to the image. Pasting
``grid × grid`` labelled images onto one canvas keeps every object at the size the model knows
while the image grows ``grid`` times, so a model run at ``imgsz`` on the whole canvas sees each
object ``grid`` times smaller; labels are the source polygons moved onto the canvas.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def make_canvas_set(src: Path, dst: Path, names: dict, grid: int = 3, n_images: int = 2, gap: int = 16,
                    seed: int = 0) -> Path:
    """Write ``dst/images/*.jpg``, ``dst/labels/*.txt`` and ``dst/data.yaml`` (train = val = images);
    returns the YAML path. Each canvas holds ``grid × grid`` source images (cycled, shuffled by
    ``seed``) separated by ``gap`` grey pixels."""
    src, dst = Path(src), Path(dst)
    pairs = sorted((p, p.with_suffix(".txt")) for p in src.glob("*.jpg") if p.with_suffix(".txt").exists())
    if not pairs:
        raise FileNotFoundError(f"no labelled .jpg/.txt pairs in {src}")
    rng = np.random.default_rng(seed)
    (dst / "images").mkdir(parents=True, exist_ok=True)
    (dst / "labels").mkdir(parents=True, exist_ok=True)
    k = 0
    for i in range(n_images):
        cells = [pairs[j % len(pairs)] for j in rng.permutation(grid * grid) + k]
        k += grid * grid
        ims = [cv2.imread(str(p)) for p, _ in cells]
        ch, cw = max(im.shape[0] for im in ims), max(im.shape[1] for im in ims)
        H, W = grid * ch + (grid + 1) * gap, grid * cw + (grid + 1) * gap
        canvas = np.full((H, W, 3), 114, np.uint8)
        lines = []
        for c, (im, (_, lab)) in enumerate(zip(ims, cells)):
            oy, ox = gap + (c // grid) * (ch + gap), gap + (c % grid) * (cw + gap)
            h, w = im.shape[:2]
            canvas[oy:oy + h, ox:ox + w] = im
            for line in lab.read_text().splitlines():
                v = line.split()
                if len(v) < 7:
                    continue
                xy = np.asarray(v[1:], np.float64).reshape(-1, 2) * (w, h) + (ox, oy)
                xy /= (W, H)
                lines.append(v[0] + " " + " ".join(f"{t:.6f}" for t in xy.reshape(-1)))
        cv2.imwrite(str(dst / "images" / f"canvas{i:03d}.jpg"), canvas, [cv2.IMWRITE_JPEG_QUALITY, 95])
        (dst / "labels" / f"canvas{i:03d}.txt").write_text("\n".join(lines) + "\n")
    yaml = dst / "data.yaml"
    body = "\n".join(f"  {int(k)}: {v}" for k, v in sorted(names.items()))
    yaml.write_text(f"path: {dst}\ntrain: images\nval: images\nnames:\n{body}\n")
    return yaml
