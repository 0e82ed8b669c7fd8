"""The label cache: verified records stored as JSON next to the labels.

Why JSON and a content hash: the reference implementation's pickle cache executes whatever a
replaced cache file contains, and its key (file sizes and mtimes) misses an edit that keeps both.
This cache is plain JSON (no code can run on read), validated field by field, and keyed by a SHA-256
over every label file's bytes, every image's size and mtime, the class names and the task; anything
invalid is rejected with a warning and rebuilt. Each split has its own file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from segctl.data import Issue, VerifyReport

from .labels import MAX_LABEL_BYTES

LOG = logging.getLogger("segctl.data")
CACHE_VERSION = 1


def content_hash(pairs: list[tuple[str, str]], names: dict[int, str], task: str) -> str:
    """Hash of the inputs a verification depends on (label bytes, image size+mtime, names, task)."""
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_VERSION, "task": task,
                         "names": {str(k): v for k, v in names.items()}}, sort_keys=True).encode())
    for im, lb in pairs:
        h.update(im.encode() + b"\0")
        try:
            st = os.stat(im)
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(b"no-image")
        h.update(b"\0" + lb.encode() + b"\0")
        try:
            with open(lb, "rb") as f:
                data = f.read(MAX_LABEL_BYTES + 1)
            h.update(len(data).to_bytes(8, "little") + data)
        except OSError:
            h.update(b"no-label")
    return h.hexdigest()


def cache_path(label_files: list[str], split: str) -> Path:
    """``labels/<dir>.<split>.segctl-cache.json`` beside the first label folder: one file per split."""
    parent = Path(label_files[0]).parent
    stem = parent.name if parent.name == split else f"{parent.name}.{split}"
    return parent.parent / f"{stem}.segctl-cache.json"


def _record_to_json(r: dict) -> dict:
    return {"im_file": r["im_file"], "shape": list(r["shape"]), "cls": r["cls"].tolist(),
            "bboxes": r["bboxes"].tolist(), "segments": [s.tolist() for s in r["segments"]]}


def _record_from_json(d: dict) -> dict:
    if not isinstance(d, dict) or not isinstance(d.get("im_file"), str):
        raise ValueError("bad record")
    shape = tuple(int(v) for v in d["shape"])
    cls = np.asarray(d["cls"], dtype=np.int64).reshape(-1)
    bboxes = np.asarray(d["bboxes"], dtype=np.float32).reshape(-1, 4)
    segs = [np.asarray(s, dtype=np.float32).reshape(-1, 2) for s in d["segments"]]
    if len(shape) != 2 or not (len(cls) == len(bboxes) == len(segs)):
        raise ValueError("inconsistent record")
    return {"im_file": d["im_file"], "shape": shape, "cls": cls, "bboxes": bboxes, "segments": segs}


def load_cache(path: Path, key: str):
    """Return ``(records, report)`` from a valid cache with this key, else ``None`` (with a warning
    when the file exists but is unreadable or malformed; a stale key is silent)."""
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        if not isinstance(d, dict) or d.get("version") != CACHE_VERSION:
            raise ValueError("not a segctl cache of this version")
        if d.get("hash") != key:
            LOG.info("label cache %s is stale (labels, images, names or task changed); rebuilding", path)
            return None
        records = [_record_from_json(r) for r in d["records"]]
        rep = d["report"]
        report = VerifyReport(found=int(rep["found"]), missing=int(rep["missing"]), empty=int(rep["empty"]),
                              corrupt=int(rep["corrupt"]), instances=int(rep["instances"]),
                              issues=[Issue(str(i["path"]), str(i["reason"]), str(i["action"]),
                                            None if i.get("line") is None else int(i["line"]))
                                      for i in rep["issues"]])
        return records, report
    except Exception as e:  # anything wrong with the file: reject, never trust partially
        LOG.warning("label cache %s rejected (%s: %s); rebuilding it", path, type(e).__name__, e)
        return None


def save_cache(path: Path, key: str, records: list[dict], report: VerifyReport) -> bool:
    """Write atomically (temp file + rename); a read-only dataset folder only costs a warning."""
    payload = {"version": CACHE_VERSION, "hash": key, "records": [_record_to_json(r) for r in records],
               "report": report.to_dict()}
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(payload, f)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return True
    except OSError as e:
        LOG.warning("cannot write label cache %s (%s); continuing without it", path, e)
        return False
