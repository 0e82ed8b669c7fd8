"""The ``yolo`` dataset format: data YAML + ``images/…`` with matching ``labels/….txt``.

Why this shape: the format object is what ``DatasetFormatSpec(name="yolo")`` points to; tasks only
ever see the :class:`segctl.data.DatasetIndex` it returns, so COCO and YOLO datasets train the same.
Every image is verified once (in parallel, cached by content hash) and every problem ends up in
``index.report`` as an :class:`~segctl.data.Issue`.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from segctl.data import DatasetIndex, Issue, VerifyReport
from segctl.errors import DataError

from . import cache as _cache
from .config import check_config as _check_config
from .images import IMG_SUFFIXES, check_image
from .labels import MAX_LABEL_BYTES, parse_labels

LOG = logging.getLogger("segctl.data")
MAX_LOGGED = 30  # issues logged one by one; the rest are counted


def img2label(im_file: str) -> str:
    """``…/images/…/x.jpg`` → ``…/labels/…/x.txt`` (the last ``images`` folder is swapped)."""
    parts = list(Path(im_file).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return str(Path(*parts).with_suffix(".txt"))


def list_images(source: str | list[str], key: str = "split") -> list[str]:
    """Image files of a split: folders (recursive), ``.txt`` lists (one path per line, relative to the
    list's folder), single images, or a list of those. Sorted, de-duplicated, absolute."""
    sources = source if isinstance(source, (list, tuple)) else [source]
    files: list[str] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            files += [str(f) for f in p.rglob("*") if f.suffix.lower() in IMG_SUFFIXES and f.is_file()]
        elif p.suffix.lower() == ".txt" and p.is_file():
            text = p.read_text(encoding="utf-8-sig")
            for line in text.splitlines():
                line = line.strip()
                if line:
                    q = Path(os.path.expanduser(line))
                    files.append(str(q if q.is_absolute() else (p.parent / q).resolve()))
        elif p.suffix.lower() in IMG_SUFFIXES and p.is_file():
            files.append(str(p.resolve()))
        else:
            raise DataError(f"'{key}' entry {p} is not a folder, .txt image list or image",
                            hint="point the split at images/<split> or a .txt file listing images")
    files = sorted(set(files))
    if not files:
        raise DataError(f"no images found for '{key}' in {', '.join(map(str, sources))}",
                        hint=f"supported suffixes: {' '.join(IMG_SUFFIXES)}")
    return files


def verify_one(im_file: str, lb_file: str, names: dict[int, str], task: str):
    """Check one image and its label file. Returns ``(record | None, issues, status)`` where status is
    ``ok``, ``missing``, ``empty`` or ``corrupt``. Only reads files."""
    shape, err = check_image(im_file)
    if shape is None:
        return None, [Issue(im_file, err, "skipped")], "corrupt"
    try:
        with open(lb_file, "rb") as f:
            raw = f.read(MAX_LABEL_BYTES + 1)  # never more than the cap (a /dev/zero link would not end)
    except FileNotFoundError:
        rec = _record(im_file, shape)
        return rec, [Issue(lb_file, "missing label file: image used as background", "background")], "missing"
    except OSError as e:
        return None, [Issue(lb_file, f"unreadable label file: {e}", "skipped")], "corrupt"
    if not raw.strip(b" \t\r\n\xef\xbb\xbf"):
        return _record(im_file, shape), [Issue(lb_file, "empty label file: image used as background",
                                               "background")], "empty"
    cls, bboxes, segs, issues = parse_labels(raw, lb_file, len(names), shape, task)
    if len(cls) == 0:
        issues.append(Issue(im_file, "no valid label rows: every row of the label file was dropped; image skipped",
                            "skipped"))
        return None, issues, "corrupt"
    rec = _record(im_file, shape)
    rec.update(cls=cls, bboxes=bboxes, segments=segs)
    return rec, issues, "ok"


def _record(im_file: str, shape) -> dict:
    import numpy as np

    return {"im_file": im_file, "shape": tuple(shape), "cls": np.zeros(0, np.int64),
            "bboxes": np.zeros((0, 4), np.float32), "segments": []}


class YOLOFormat:
    """Dataset-format object for YOLO txt datasets (registered as ``yolo``)."""

    name = "yolo"

    @staticmethod
    def check_config(data: dict, yaml_path=None) -> dict:
        """Resolve and validate a dataset YAML (see :func:`segctl_dataset_yolo.config.check_config`)."""
        return _check_config(data, yaml_path)

    def load(self, data: dict, split: str, *, task: str = "segment", strict: bool = False,
             workers: int = 2, nc_check: bool = True, cache: bool = True) -> DatasetIndex:
        """Verify one split and return its :class:`DatasetIndex`.

        ``strict=True`` makes a missing label file an error instead of background. ``workers`` threads
        verify images in parallel (0 = in this thread). ``cache=False`` skips reading/writing the
        label cache. ``nc_check`` is accepted for interface compatibility; class ids are always checked.
        """
        if not data.get("path") or not os.path.isabs(str(data["path"])):
            data = _check_config(data, data.get("yaml_file") or None)
        if data.get(split) in (None, "", []):
            raise DataError(f"dataset has no '{split}' split", hint=f"add '{split}:' to the dataset YAML")
        names = data["names"]
        im_files = list_images(data[split], split)
        pairs = [(im, img2label(im)) for im in im_files]
        key = _cache.content_hash(pairs, names, task)
        cpath = _cache.cache_path([lb for _, lb in pairs], split)
        hit = _cache.load_cache(cpath, key) if cache else None
        if hit is not None:
            records, report = hit
        else:
            records, report = self._verify(pairs, names, task, workers)
            if cache:
                _cache.save_cache(cpath, key, records, report)
        self._log(report, split)
        if strict and report.missing:
            miss = [i.path for i in report.issues if i.reason.startswith("missing label")]
            raise DataError(f"{report.missing} image(s) in '{split}' have no label file (strict mode), "
                            f"first: {', '.join(miss[:5])}",
                            hint="add empty .txt files for background images or run without strict")
        return DatasetIndex(names=dict(names), records=records, report=report, root=str(data["path"]),
                            split=split, format=self.name)

    @staticmethod
    def _verify(pairs, names, task, workers):
        report = VerifyReport(found=len(pairs))

        def one(p):
            return verify_one(p[0], p[1], names, task)

        if workers and workers > 0 and len(pairs) > 1:
            with ThreadPoolExecutor(max_workers=int(workers)) as ex:
                results = list(ex.map(one, pairs))
        else:
            results = [one(p) for p in pairs]
        records = []
        for rec, issues, status in results:
            report.issues.extend(issues)
            if status == "corrupt":
                report.corrupt += 1
            elif status == "missing":
                report.missing += 1
            elif status == "empty":
                report.empty += 1
            if rec is not None:
                records.append(rec)
                report.instances += len(rec["cls"])
        return records, report

    @staticmethod
    def _log(report: VerifyReport, split: str) -> None:
        LOG.info("%s: %s", split, report.summary())
        shown = [i for i in report.issues if i.action != "background"]
        for issue in shown[:MAX_LOGGED]:
            LOG.warning("%s", issue)
        if len(shown) > MAX_LOGGED:
            LOG.warning("%s: ... and %d more issue(s) (see the index report)", split, len(shown) - MAX_LOGGED)
        if report.missing or report.empty:
            LOG.warning("%s: %d image(s) without label file and %d with an empty label file are used as "
                        "background", split, report.missing, report.empty)
