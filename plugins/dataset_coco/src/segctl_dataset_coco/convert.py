"""``coco2yolo``: write a COCO instances JSON as a YOLO polygon dataset.

Why through the loader: conversion applies exactly the checks and policies training would (broken
images skipped, bad rows dropped, multi-part instances and RLE masks turned into one bridge-joined
polygon), so a converted dataset trains like the original. What YOLO labels cannot hold is said,
not hidden: crowd regions are left out and counted, and every instance whose polygon differs from
its exact mask (rasterised IoU below ``exact_iou``) is listed as "could not be represented exactly".
The default 0.9 allows for the half-pixel difference between pycocotools' polygon rasteriser and
``cv2.fillPoly``, which alone costs a few IoU points on objects of a few hundred pixels.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .config import check_config, split_name
from .format import CocoFormat
from .geometry import decode, mask_iou, rasterize


@dataclass
class ConvertReport:
    """Counts of a conversion; ``inexact`` holds ``(image, instance index, IoU)`` triples."""

    split: str = ""
    images: int = 0
    background: int = 0
    skipped_images: int = 0
    instances: int = 0
    crowd_skipped: int = 0
    joined: int = 0
    inexact: list[tuple[str, int, float]] = field(default_factory=list)
    dropped_rows: int = 0
    yaml_path: str = ""

    def summary(self) -> str:
        lines = [f"coco2yolo '{self.split}': {self.images} images ({self.background} background, "
                 f"{self.skipped_images} skipped), {self.instances} instances written -> {self.yaml_path}"]
        if self.joined:
            lines.append(f"  {self.joined} multi-part/RLE instances joined into one polygon by bridge cuts")
        if self.crowd_skipped:
            lines.append(f"  {self.crowd_skipped} crowd regions (iscrowd=1) left out: YOLO labels cannot mark them")
        if self.inexact:
            worst = min(self.inexact, key=lambda t: t[2])
            lines.append(f"  {len(self.inexact)} instances could not be represented exactly by one polygon "
                         f"(worst IoU {worst[2]:.3f}: {worst[0]} #{worst[1]})")
        if self.dropped_rows:
            lines.append(f"  {self.dropped_rows} annotation rows dropped (see warnings)")
        return "\n".join(lines)


def _place(src: str, dst: Path, copy: bool) -> None:
    """Hard-link the image (no extra space), else symlink, else copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if not copy:
        try:
            os.link(src, dst)
            return
        except OSError:
            try:
                os.symlink(os.path.abspath(src), dst)
                return
            except OSError:
                pass
    shutil.copy2(src, dst)


def _yaml_key(split: str) -> str:
    for k in ("train", "val", "test"):
        if k in split.lower():
            return k
    return split


def coco2yolo(json_path, out_dir, images_dir=None, *, split: str | None = None, copy: bool = False,
              exact_iou: float = 0.9) -> ConvertReport:
    """Convert one COCO JSON into ``out_dir/images/<split>``, ``out_dir/labels/<split>`` and
    ``out_dir/data.yaml`` (merged with an existing one, so train and val JSONs can be converted
    into the same folder one after the other). Returns a :class:`ConvertReport`."""
    jp = Path(json_path).resolve()
    split = split or split_name(jp)
    cfg = check_config({"train": {"json": str(jp), "images": str(images_dir) if images_dir else None}}, jp)
    index = CocoFormat().load(cfg, "train", task="segment")
    out = Path(out_dir)
    rep = ConvertReport(split=split, skipped_images=index.report.corrupt,
                        dropped_rows=sum(1 for i in index.report.issues if i.action == "dropped-row"))
    img_root = Path(os.path.commonpath([os.path.dirname(r["im_file"]) for r in index.records])) if index.records else None
    for r in index.records:
        rel = Path(os.path.relpath(r["im_file"], img_root))
        _place(r["im_file"], out / "images" / split / rel, copy)
        h, w = r["shape"]
        lines = []
        for k, (c, seg, rle, crowd) in enumerate(zip(r["cls"], r["segments"], r["rle"], r["iscrowd"])):
            if crowd:
                rep.crowd_skipped += 1
                continue
            if rle is not None:
                rep.joined += 1
                iou = mask_iou(rasterize(seg, h, w), decode(rle))
                if iou < exact_iou:
                    rep.inexact.append((r["im_file"], k, iou))
            lines.append(f"{int(c)} " + " ".join(f"{v:.6f}" for v in seg.reshape(-1)))
        rep.instances += len(lines)
        rep.images += 1
        rep.background += not lines
        lbl = (out / "labels" / split / rel).with_suffix(".txt")
        lbl.parent.mkdir(parents=True, exist_ok=True)
        lbl.write_text("\n".join(lines) + ("\n" if lines else ""))
    rep.yaml_path = str(_write_yaml(out, split, index.names))
    return rep


def _write_yaml(out: Path, split: str, names: dict) -> Path:
    path = out / "data.yaml"
    doc = {}
    if path.is_file():
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    doc["path"] = str(out.resolve())
    doc[_yaml_key(split)] = f"images/{split}"
    doc.setdefault("train", f"images/{split}")
    doc.setdefault("val", f"images/{split}")
    doc["nc"] = len(names)
    doc["names"] = {int(k): v for k, v in names.items()}
    order = ["path", "train", "val", "test", "nc", "names"]
    doc = {k: doc[k] for k in order if k in doc} | {k: v for k, v in doc.items() if k not in order}
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.replace(tmp, path)
    return path
