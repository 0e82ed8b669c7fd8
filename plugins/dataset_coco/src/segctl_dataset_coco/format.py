"""The ``coco`` dataset format: COCO instances JSON → :class:`segctl.data.DatasetIndex`.

Why the same index as YOLO: tasks never see the on-disk format. A COCO split becomes one record per
usable image (see :mod:`segctl.data`), with ``rle`` for instances a single polygon cannot represent,
``iscrowd`` for crowd regions (kept so evaluation can ignore them; trainers must not use them as
targets) and images without annotations kept as background. Class indices are contiguous in
category-id order; the original ids are on ``index.cat_ids``.
"""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from segctl.data import DatasetIndex, Issue, VerifyReport
from segctl.errors import DataError

from . import config as _config
from .annotations import Rejected, parse
from .images import check

LOG = logging.getLogger("segctl.data")
MAX_LOGGED = 30


def _empty_record(im_file: str, shape, image_id) -> dict:
    return {"im_file": im_file, "shape": tuple(shape), "image_id": image_id,
            "cls": np.zeros(0, np.int64), "bboxes": np.zeros((0, 4), np.float32),
            "segments": [], "rle": [], "iscrowd": np.zeros(0, bool)}


def _bad_image_entry(im, root: Path | None) -> str:
    """Why an ``images`` entry cannot be used ('' when it can). A relative ``file_name`` must stay
    inside the image folder: a JSON from elsewhere must not make segctl read ``../../`` files
    (absolute names are the user's own choice and are kept)."""
    if not isinstance(im, dict):
        return f"not an object ({type(im).__name__})"
    iid, fn = im.get("id"), im.get("file_name")
    if isinstance(iid, bool) or not isinstance(iid, (int, str)):
        return f"'id' {iid!r} must be an integer or string"
    if not isinstance(fn, str) or not fn:
        return f"'file_name' {fn!r} must be a non-empty string"
    for key in ("width", "height"):
        v = im.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            return f"id {iid}: {key!r} {v!r} must be a positive integer"
    if root is not None and not os.path.isabs(fn):
        target = Path(os.path.normpath(root / fn))  # lexical: symlinked image files are the user's setup
        if target != root and root not in target.parents:
            return f"id {iid}: file_name {fn!r} leads outside the image folder {root}"
    return ""


class CocoFormat:
    """Dataset-format object for COCO JSON (registered as ``coco``)."""

    name = "coco"

    @staticmethod
    def check_config(data: dict | None, yaml_path=None) -> dict:
        """Resolve a COCO dataset YAML or bare JSON (see :mod:`segctl_dataset_coco.config`)."""
        return _config.check_config(data, yaml_path)

    def load(self, data: dict, split: str, *, task: str = "segment", strict: bool = False,
             workers: int = 2, nc_check: bool = True) -> DatasetIndex:
        """Read and verify one split. ``strict=True`` turns any skipped image or dropped row into a
        :class:`~segctl.errors.DataError`. ``workers`` threads check image files (0 = this thread)."""
        entry = data.get(split)
        if not isinstance(entry, dict) or not os.path.isabs(str(data.get("path", ""))):
            data = _config.check_config(data, data.get("yaml_file"))
            entry = data.get(split)
        if not entry:
            raise DataError(f"dataset has no '{split}' split", hint=f"add '{split}: {{json: ...}}' to the dataset YAML")
        jpath = entry["json"]
        doc = _config.read_json(jpath)
        cat_ids, names = _config.categories(doc, jpath)
        if nc_check and data.get("names") and list(data["names"].values()) != list(names.values()):
            raise DataError(f"categories of {jpath} {list(names.values())} differ from the dataset names "
                            f"{list(data['names'].values())}", hint="all splits must share one category list")
        img_dir = _config.find_images_dir(jpath, doc, entry.get("images"))
        report = VerifyReport()
        records = self._records(doc, jpath, img_dir, {c: i for i, c in enumerate(cat_ids)}, task, workers, report)
        self._log(report, split)
        if strict:
            bad = [i for i in report.issues if i.action in ("skipped", "dropped-row")]
            if bad:
                raise DataError(f"{len(bad)} problem(s) in '{split}' (strict mode), first: {bad[0]}",
                                hint="fix the annotations or run without strict")
        index = DatasetIndex(names=names, records=records, report=report, root=str(data.get("path", "")),
                             split=split, format=self.name)
        index.cat_ids = cat_ids
        return index

    @staticmethod
    def _records(doc, jpath, img_dir, cat_index, task, workers, report: VerifyReport) -> list[dict]:
        by_image = defaultdict(list)
        images, bad_entries = [], []
        root = Path(os.path.normpath(Path(img_dir).absolute())) if img_dir is not None else None
        for n, im in enumerate(doc["images"]):
            why = _bad_image_entry(im, root)
            if why:
                bad_entries.append(f"images[{n}]: {why}")
            else:
                images.append(im)
        for text in bad_entries[:MAX_LOGGED]:
            report.issues.append(Issue(str(jpath), f"bad image entry {text}", "skipped"))
        if len(bad_entries) > MAX_LOGGED:
            report.issues.append(Issue(str(jpath), f"... and {len(bad_entries) - MAX_LOGGED} more bad image entries",
                                       "skipped"))
        image_ids = {im.get("id") for im in images}
        orphans = 0
        for ann in doc["annotations"]:
            iid = ann.get("image_id") if isinstance(ann, dict) else None
            if isinstance(iid, (int, str)) and not isinstance(iid, bool) and iid in image_ids:
                by_image[iid].append(ann)
            else:
                orphans += 1
        if orphans:
            report.issues.append(Issue(str(jpath), f"orphan annotations: {orphans} refer to no listed image",
                                       "dropped-row"))
        if img_dir is None and any(not os.path.isabs(im["file_name"]) for im in images):
            raise DataError(f"cannot find the image folder for {jpath}",
                            hint="set 'images:' for this split in the dataset YAML (or --images)")

        def path_of(im):
            fn = im["file_name"]
            return str(Path(fn) if os.path.isabs(fn) else (Path(img_dir) / fn).resolve())

        files = [path_of(im) for im in images]
        if workers and workers > 0 and len(files) > 1:
            with ThreadPoolExecutor(max_workers=int(workers)) as ex:
                checks = list(ex.map(check, files))
        else:
            checks = [check(f) for f in files]
        report.found = len(images)
        records = []
        for im, f, (shape, reason) in zip(images, files, checks):
            if shape is None:
                report.corrupt += 1
                report.issues.append(Issue(f, reason, "skipped"))
                continue
            w, h = im.get("width"), im.get("height")
            if (w, h) != (None, None) and (h or 0, w or 0) != tuple(shape):
                report.corrupt += 1
                report.issues.append(Issue(f, f"size mismatch: image is {shape[1]}x{shape[0]} (EXIF applied) but "
                                              f"the JSON says {w}x{h}", "skipped"))
                continue
            rec = _empty_record(f, shape, im.get("id"))
            anns = by_image.get(im.get("id"), [])
            if not anns:
                report.empty += 1
                records.append(rec)
                continue
            insts = []
            for ann in anns:
                try:
                    inst, notes = parse(ann, shape[1], shape[0], cat_index, task)
                except Rejected as e:
                    report.issues.append(Issue(f, f"bad annotation: id {ann.get('id')}: {e}", "dropped-row"))
                    continue
                for n in notes:
                    report.issues.append(Issue(f, f"annotation {ann.get('id')}: {n}",
                                               "clipped" if n.startswith("clipped") else "warning"))
                insts.append(inst)
            if insts:
                rec.update(cls=np.array([i["cls"] for i in insts], np.int64),
                           bboxes=np.stack([i["bbox"] for i in insts]).astype(np.float32),
                           segments=[i["segment"] for i in insts], rle=[i["rle"] for i in insts],
                           iscrowd=np.array([i["iscrowd"] for i in insts], bool))
                report.instances += len(insts)
            else:
                report.empty += 1
            records.append(rec)
        return records

    @staticmethod
    def _log(report: VerifyReport, split: str) -> None:
        LOG.info("%s: %s", split, report.summary())
        for issue in report.issues[:MAX_LOGGED]:
            LOG.warning("%s", issue)
        if len(report.issues) > MAX_LOGGED:
            LOG.warning("%s: ... and %d more issue(s) (see the index report)", split, len(report.issues) - MAX_LOGGED)
