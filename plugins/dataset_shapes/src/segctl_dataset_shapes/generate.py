"""The synthetic shapes dataset: 7 classes, YOLO polygon labels and COCO JSON, made in seconds.

Why synthetic: segctl needs a dataset that exists with no download (tests, ``segctl data demo``,
the default ``data=``). It must be learnable (clean, distinct classes) yet not trivial (textures,
distractors, occlusion), and deterministic: the same ``seed`` gives byte-identical files, because
every image draws from its own ``numpy.random.default_rng([seed, split, index])``.

Labels describe the *visible* part of each object: shapes are painted in order, each object's
visible mask is its mask minus everything painted later, objects less than 20 % visible (or under
20 px) get no label, and the visible mask is traced with ``cv2.findContours``.

Layout written under ``out_dir``::

    images/{train,val}/NNNNNN.jpg
    labels/{train,val}/NNNNNN.txt          YOLO: "cls x1 y1 x2 y2 ..." normalised to 0..1
    data.yaml                              path, train, val, names (the YOLO dataset YAML)
    annotations/instances_{train,val}.json COCO (when coco=True)
    data-coco.yaml                         the same splits in segctl's COCO YAML schema

COCO specifics, chosen to exercise loaders: category ids are 1, 3, 5, ... (non-contiguous);
instances whose visible mask has a hole (every unoccluded ring) are compressed RLE, others are
polygons with one part per visible piece; the first training image holds a cluster of small
circles annotated as one ``iscrowd=1`` region (uncompressed RLE). That cluster is not in the YOLO
labels, which cannot express crowd regions.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import yaml

from .contours import bridge_join, mask_contours, rle
from .draw import CLASSES, shape_mask
from .paint import background, fill, random_color

MIN_VISIBLE = 0.2
MIN_PIXELS = 20
SPLITS = {"train": 1, "val": 2}


def coco_category_id(cls: int) -> int:
    """COCO category id of class index ``cls`` (deliberately non-contiguous: 1, 3, 5, ...)."""
    return 2 * cls + 1


def _paint(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
    """Fill ``mask`` in ``img`` with a random texture computed only over the mask's bounding box."""
    x0, y0, bw, bh = cv2.boundingRect(mask)
    if not bw or not bh:
        return
    y1, x1 = y0 + bh, x0 + bw
    tex = fill(rng, int(y1 - y0), int(x1 - x0))
    sub = mask[y0:y1, x0:x1].astype(bool)
    img[y0:y1, x0:x1][sub] = tex[sub]


def _crowd_mask(rng: np.random.Generator, s: int) -> np.ndarray:
    """A tight cluster of small circles: the kind of region COCO marks ``iscrowd=1``."""
    m = np.zeros((s, s), np.uint8)
    cx, cy = rng.uniform(0.15 * s, 0.85 * s, 2)
    for _ in range(int(rng.integers(6, 11))):
        x, y = rng.normal((cx, cy), s * 0.05)
        cv2.circle(m, (int(x), int(y)), max(2, int(s * rng.uniform(0.01, 0.02))), 1, -1)
    return m


def render(rng: np.random.Generator, imgsz: int, crowd: bool = False):
    """Draw one image. Returns ``(bgr uint8 image, objects, crowd_mask | None)`` where objects are
    ``(cls, visible_mask)`` for labelled objects, in painting order."""
    s = imgsz
    img = background(rng, s, s)
    objs = []
    for _ in range(int(rng.integers(1, 9))):
        cls = int(rng.integers(0, len(CLASSES)))
        r = rng.uniform(0.07, 0.2) * s
        cx, cy = rng.uniform(0.6 * r, s - 0.6 * r, 2)
        m = shape_mask(cls, s, s, cx, cy, r, rng)
        _paint(img, m, rng)
        objs.append((cls, m))
    cm = None
    if crowd:
        cm = _crowd_mask(rng, s)
        img[cm.astype(bool)] = random_color(rng)
    covered = np.zeros((s, s), bool) if cm is None else cm.astype(bool)
    kept = []
    for cls, m in reversed(objs):
        mb = m.astype(bool)
        vis = mb & ~covered
        covered |= mb
        area, full = int(vis.sum()), int(mb.sum())
        if area >= MIN_PIXELS and area >= MIN_VISIBLE * full:
            kept.append((cls, vis.astype(np.uint8)))
    kept.reverse()
    return np.clip(img, 0, 255).astype(np.uint8), kept, cm


def _bbox(mask: np.ndarray) -> list[float]:
    return [float(v) for v in cv2.boundingRect(mask)]


def _coco_ann(ann_id: int, img_id: int, cls: int, mask, outers, holes, crowd=False) -> dict:
    if crowd:
        seg = rle(mask, compressed=False)
    elif holes:
        seg = rle(mask, compressed=True)
    else:
        seg = [[float(v) for v in c.reshape(-1)] for c in outers]
    return {"id": ann_id, "image_id": img_id, "category_id": coco_category_id(cls), "segmentation": seg,
            "area": float(mask.sum()), "bbox": _bbox(mask), "iscrowd": int(crowd)}


def _write_split(out: Path, split: str, n: int, imgsz: int, seed: int, coco: bool) -> dict:
    img_dir, lbl_dir = out / "images" / split, out / "labels" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, SPLITS[split], i])
        img, objs, cm = render(rng, imgsz, crowd=coco and split == "train" and i == 0)
        stem = f"{i:06d}"
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode shapes image {split}/{stem}")
        (img_dir / f"{stem}.jpg").write_bytes(buf.tobytes())
        images.append({"id": i + 1, "file_name": f"{stem}.jpg", "width": imgsz, "height": imgsz})
        lines = []
        for cls, vis in objs:
            outers, holes = mask_contours(vis)
            if not outers:
                continue
            poly = np.clip(bridge_join(outers + holes) / imgsz, 0.0, 1.0)
            lines.append(f"{cls} " + " ".join(f"{v:.6f}" for v in poly.reshape(-1)))
            if coco:
                anns.append(_coco_ann(len(anns) + 1, i + 1, cls, vis, outers, holes))
        if cm is not None:
            anns.append(_coco_ann(len(anns) + 1, i + 1, 0, cm, [], [], crowd=True))
        (lbl_dir / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    return {"info": {"description": f"segctl shapes-seg {split} (seed {seed})", "version": "1"},
            "licenses": [], "images": images, "annotations": anns,
            "categories": [{"id": coco_category_id(k), "name": n, "supercategory": "shape"}
                           for k, n in enumerate(CLASSES)]}


def generate(out_dir, *, n_train: int = 128, n_val: int = 32, imgsz: int = 320, seed: int = 0,
             coco: bool = True, yaml_root: str | os.PathLike | None = None) -> Path:
    """Write the dataset into ``out_dir`` and return the path of its ``data.yaml``.

    ``yaml_root`` is the ``path:`` written into the YAML files (default: ``out_dir`` resolved); it
    lets a caller generate into a temporary folder that is renamed into place afterwards.
    """
    from segctl.errors import UsageError

    if n_train < 1 or n_val < 1:
        raise UsageError(f"shapes dataset needs at least 1 train and 1 val image, got {n_train}/{n_val}",
                         hint="use --train N --val N with N >= 1")
    if imgsz < 32:
        raise UsageError(f"shapes dataset image size {imgsz} is too small", hint="use --imgsz 32 or more")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = str(Path(yaml_root) if yaml_root is not None else out.resolve())
    names = dict(enumerate(CLASSES))
    for split, n in (("train", n_train), ("val", n_val)):
        doc = _write_split(out, split, n, imgsz, seed, coco)
        if coco:
            (out / "annotations").mkdir(exist_ok=True)
            (out / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc, separators=(",", ":")))
    if coco:
        cdoc = {"format": "coco", "path": root,
                "train": {"json": "annotations/instances_train.json", "images": "images/train"},
                "val": {"json": "annotations/instances_val.json", "images": "images/val"}}
        (out / "data-coco.yaml").write_text(yaml.safe_dump(cdoc, sort_keys=False))
    ydoc = {"path": root, "train": "images/train", "val": "images/val", "nc": len(CLASSES), "names": names}
    path = out / "data.yaml"
    path.write_text(yaml.safe_dump(ydoc, sort_keys=False))
    return path
