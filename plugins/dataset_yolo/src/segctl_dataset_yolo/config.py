"""The dataset YAML of the YOLO format: keys, path resolution and class names.

Why a separate step: every later stage (verification, cache, training) relies on absolute paths
and ``names`` as ``{int: str}``. Resolving and checking them once, up front, turns the usual
"KeyError deep inside the trainer" into one clear :class:`DataError` naming the key and the file.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from segctl.errors import DataError

SPLITS = ("train", "val", "test")
REQUIRED = ("train", "val")


def _fmt_src(yaml_path) -> str:
    return f" in {yaml_path}" if yaml_path else ""


def normalize_names(names: Any, nc: Any, yaml_path=None) -> dict[int, str]:
    """``names`` as a list or ``{id: name}`` mapping (ids 0..n-1, contiguous) → ``{int: str}``.

    When only ``nc`` is given, names default to ``class0``, ``class1``...; when both are given they
    must agree, because a silent mismatch would shift every class id.
    """
    src = _fmt_src(yaml_path)
    if names is None:
        if nc is None:
            raise DataError(f"dataset YAML{src} has neither 'names' nor 'nc'",
                            hint="add 'names: [cat, dog]' (list) or 'names: {0: cat, 1: dog}'")
        try:
            n = int(nc)
        except (TypeError, ValueError):
            raise DataError(f"'nc'{src} must be an integer, got {nc!r}", hint="e.g. nc: 2") from None
        return {i: f"class{i}" for i in range(n)}
    if isinstance(names, (list, tuple)):
        out = {i: str(v) for i, v in enumerate(names)}
    elif isinstance(names, dict):
        out = {}
        for k, v in names.items():
            try:
                out[int(k)] = str(v)
            except (TypeError, ValueError):
                raise DataError(f"'names'{src} has a non-integer id {k!r}",
                                hint="use 'names: {0: cat, 1: dog}' or a list") from None
        if sorted(out) != list(range(len(out))):
            raise DataError(f"'names' ids{src} must be 0..{len(out) - 1} without gaps, got {sorted(out)}",
                            hint="renumber the classes contiguously from 0")
        out = dict(sorted(out.items()))
    else:
        raise DataError(f"'names'{src} must be a list or a mapping, got {type(names).__name__}",
                        hint="e.g. names: [cat, dog]")
    if not out:
        raise DataError(f"'names'{src} is empty", hint="list at least one class name")
    if nc is not None:
        try:
            n = int(nc)
        except (TypeError, ValueError):
            raise DataError(f"'nc'{src} must be an integer, got {nc!r}", hint="e.g. nc: 2") from None
        if n != len(out):
            raise DataError(f"'nc: {n}'{src} does not match the {len(out)} entries of 'names'",
                            hint="remove 'nc' or make it equal to the number of names")
    return out


def _resolve(value: Any, root: Path, key: str, yaml_path) -> str | list[str]:
    """One split value (folder, .txt list, image file, or a list of those) → absolute path(s)."""
    src = _fmt_src(yaml_path)
    if isinstance(value, (list, tuple)):
        if not value:
            raise DataError(f"'{key}'{src} is an empty list", hint="give a folder or a .txt list of images")
        return [str(_resolve(v, root, key, yaml_path)) for v in value]
    if not isinstance(value, (str, os.PathLike)):
        raise DataError(f"'{key}'{src} must be a path or list of paths, got {value!r}",
                        hint="e.g. train: images/train")
    p = Path(os.path.expanduser(str(value)))
    if not p.is_absolute():
        p = root / p
    p = p.resolve()
    if not p.exists():
        raise DataError(f"'{key}' path {p} does not exist{src}",
                        hint=f"check 'path' ({root}) and '{key}' in the dataset YAML")
    return str(p)


def check_config(data: dict | None, yaml_path: str | os.PathLike | None = None) -> dict:
    """Validate a parsed dataset YAML and return a resolved copy.

    ``path`` is resolved relative to the YAML's folder (or the current directory without a YAML),
    split entries relative to ``path``. The result has ``path`` (absolute str), ``train``/``val``
    (and ``test`` when given) as absolute str or list of str, ``names`` ``{int: str}``, ``nc``,
    ``yaml_file``. Any missing key or path raises :class:`DataError` with a hint.
    """
    if not isinstance(data, dict):
        raise DataError(f"dataset YAML{_fmt_src(yaml_path)} is not a mapping",
                        hint="expected keys: path, train, val, names")
    base = Path(yaml_path).resolve().parent if yaml_path else Path.cwd()
    root = data.get("path")
    root = base if root in (None, "") else Path(os.path.expanduser(str(root)))
    if not root.is_absolute():
        root = (base / root)
    root = root.resolve()
    if not root.is_dir():
        raise DataError(f"dataset 'path' {root} is not a folder{_fmt_src(yaml_path)}",
                        hint="'path' is resolved relative to the dataset YAML's folder")
    missing = [k for k in REQUIRED if data.get(k) in (None, "", [])]
    if missing:
        raise DataError(f"dataset YAML{_fmt_src(yaml_path)} is missing {', '.join(repr(k) for k in missing)}",
                        hint="a YOLO dataset YAML needs 'train', 'val' and 'names' (val may equal train)")
    out = dict(data)
    out["path"] = str(root)
    for key in SPLITS:
        if data.get(key) not in (None, "", []):
            out[key] = _resolve(data[key], root, key, yaml_path)
    out["names"] = normalize_names(data.get("names"), data.get("nc"), yaml_path)
    out["nc"] = len(out["names"])
    out["yaml_file"] = str(Path(yaml_path).resolve()) if yaml_path else ""
    return out
