"""Where a COCO dataset's files are: the dataset YAML schema, bare JSON files, image folders.

Two ways to point ``data=`` at COCO:

1. A COCO ``instances_*.json`` directly. It is used for both ``train`` and ``val`` and its images
   are looked for next to it (see :func:`find_images_dir`).
2. A dataset YAML (``format: coco`` optional; detected when a split names a ``.json``)::

       path: /datasets/coco          # optional; relative entries resolve against it, else the YAML's folder
       train: {json: annotations/instances_train2017.json, images: train2017}
       val: annotations/instances_val2017.json      # shorthand: images found next to the JSON
       names: {0: person, ...}       # optional; must then match the JSON categories (sorted by id)

Class indices are contiguous (0..nc-1) in category-id order; the original ids are kept in
``DatasetIndex.cat_ids`` so predictions can be written back as COCO JSON.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from segctl.errors import DataError

SPLIT_KEYS = ("train", "val", "test")


@lru_cache(maxsize=2)
def _read_cached(path: str, mtime_ns: int, size: int) -> dict:
    try:
        with open(path, encoding="utf-8-sig") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"COCO file {path} cannot be read as JSON: {e}",
                        hint="check the file is a complete COCO instances JSON") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise DataError(f"COCO file {path} has no 'images' list", hint="is this a COCO instances JSON?")
    if not isinstance(doc.get("categories"), list) or not doc["categories"]:
        raise DataError(f"COCO file {path} has no 'categories' list",
                        hint="instance annotations need categories with id and name")
    if not isinstance(doc.setdefault("annotations", []), list):
        raise DataError(f"COCO file {path}: 'annotations' must be a list")
    return doc


def read_json(path: str | os.PathLike) -> dict:
    """Parse a COCO JSON (the last two are cached, keyed by path, mtime and size: config checking
    and loading a split read the same file)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"COCO annotation file not found: {p}", hint="check the 'json' entry of the dataset")
    st = p.stat()
    return _read_cached(str(p.resolve()), st.st_mtime_ns, st.st_size)


def categories(doc: dict, path) -> tuple[list[int], dict[int, str]]:
    """``(cat_ids sorted, {index: name})`` from a COCO document."""
    cats = {}
    for c in doc["categories"]:
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or "name" not in c:
            raise DataError(f"COCO file {path}: category {c!r} needs an integer 'id' and a 'name'")
        if c["id"] in cats:
            raise DataError(f"COCO file {path}: category id {c['id']} appears twice")
        cats[c["id"]] = str(c["name"])
    ids = sorted(cats)
    return ids, {i: cats[cid] for i, cid in enumerate(ids)}


def split_name(json_path) -> str:
    """``instances_val2017.json`` → ``val2017`` (the usual COCO naming), else the file stem."""
    stem = Path(json_path).stem
    return stem[len("instances_"):] if stem.startswith("instances_") else stem


def find_images_dir(json_path, doc: dict, given=None) -> Path | None:
    """The folder that ``file_name`` entries are relative to: ``given`` if set, else the first of
    the JSON's folder, ``../images/<split>``, ``../<split>``, ``../images``, ``./images``, ``..``
    that holds the first images listed. ``None`` if none does (or names are absolute)."""
    if given:
        return Path(given)
    jdir = Path(json_path).resolve().parent
    split = split_name(json_path)
    cands = [jdir, jdir.parent / "images" / split, jdir.parent / split, jdir.parent / "images",
             jdir / "images", jdir.parent]
    names = [im.get("file_name") for im in doc["images"][:5] if isinstance(im, dict) and im.get("file_name")]
    names = [n for n in names if not os.path.isabs(n)]
    for c in cands:
        if names and any((c / n).is_file() for n in names):
            return c
    return None


def _entry(value, root: Path, key: str, yaml_path) -> dict:
    """Normalise one split entry to ``{"json": abs path, "images": abs path | None}``."""
    if isinstance(value, (str, os.PathLike)):
        value = {"json": str(value)}
    if not isinstance(value, dict) or not value.get("json"):
        raise DataError(f"dataset YAML {yaml_path}: '{key}' must be a .json path or a mapping with 'json:'",
                        hint=f"e.g. {key}: {{json: annotations/instances_{key}.json, images: images/{key}}}")
    out = {}
    for k in ("json", "images"):
        v = value.get(k)
        if v:
            p = Path(os.path.expanduser(str(v)))
            out[k] = str(p if p.is_absolute() else (root / p).resolve())
        else:
            out[k] = None
    return out


def check_config(data: dict | None, yaml_path=None) -> dict:
    """Resolve a COCO data config (YAML dict, or ``None`` with ``yaml_path`` a ``.json``) into
    ``{"path", "train", "val"[, "test"], "names", "nc", "format": "coco"}`` with absolute paths."""
    if not data:
        if yaml_path is None or not str(yaml_path).lower().endswith(".json"):
            raise DataError("COCO dataset config is empty", hint="give a COCO JSON or a dataset YAML")
        jp = Path(yaml_path).resolve()
        data = {"path": str(jp.parent), "train": str(jp), "val": str(jp)}
    if not isinstance(data, dict):
        raise DataError(f"dataset config {yaml_path} must be a mapping")
    base = Path(yaml_path).resolve().parent if yaml_path else Path.cwd()
    root = Path(os.path.expanduser(str(data.get("path") or base)))
    root = root if root.is_absolute() else (base / root).resolve()
    cfg = {k: v for k, v in data.items() if k not in SPLIT_KEYS}
    cfg.update(path=str(root), format="coco")
    for k in SPLIT_KEYS:
        if data.get(k):
            cfg[k] = _entry(data[k], root, k, yaml_path)
    if "train" not in cfg and "val" not in cfg:
        raise DataError(f"dataset config {yaml_path} has neither 'train' nor 'val'",
                        hint="add train: {json: ..., images: ...}")
    cfg.setdefault("val", cfg.get("train"))
    cfg.setdefault("train", cfg["val"])
    first = cfg["train"]["json"]
    _, names = categories(read_json(first), first)
    given = data.get("names")
    if given:
        listed = list(given.values()) if isinstance(given, dict) else list(given)
        if [str(n) for n in listed] != list(names.values()):
            raise DataError(f"dataset YAML {yaml_path}: names {listed} do not match the categories of {first} "
                            f"{list(names.values())}", hint="remove 'names' to take them from the JSON")
    cfg["names"], cfg["nc"] = names, len(names)
    return cfg
