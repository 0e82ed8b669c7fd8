"""The metadata every artifact carries, and where each kind of artifact keeps it.

Why: a backend must know the class names, strides, input size, layout (``nms``) and precision of an
artifact without guessing from its file name. The same dict is stored in every format — ONNX
``metadata_props`` (one string per key), TorchScript ``_extra_files["config.txt"]`` (JSON) and a
``metadata.yaml`` for folder formats — and read back into the same Python types.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import yaml

from .. import __version__

TORCHSCRIPT_KEY = "config.txt"

#: how images must be prepared for every artifact (documented so consumers need not guess)
PREPROCESS = {"letterbox": True, "color": "RGB", "scale": 1 / 255, "layout": "NCHW", "pad_value": 114}


def _plain(value: Any) -> Any:
    """Convert tensors, numpy scalars, paths and tuples to JSON/YAML-safe plain data."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, int) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def model_strides(model: Any) -> list[float]:
    stride = getattr(model, "stride", None)
    if stride is None:
        return [8.0, 16.0, 32.0]
    values = stride.tolist() if hasattr(stride, "tolist") else stride
    values = values if isinstance(values, (list, tuple)) else [values]
    return [float(v) for v in values]


def model_names(model: Any) -> dict[int, str]:
    names = getattr(model, "names", None)
    nc = getattr(model, "nc", None)
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    if not names:
        names = {i: f"class{i}" for i in range(int(nc or 0))}
    return {int(k): str(v) for k, v in names.items()}


def build_metadata(model: Any, args: dict, fmt: str) -> dict:
    """The metadata dict for an export of ``model`` with validated ``args`` to format ``fmt``."""
    names = model_names(model)
    strides = model_strides(model)
    export_args = {k: _plain(v) for k, v in sorted(args.items()) if k not in ("model",)}
    return {
        "format": fmt,
        "task": str(getattr(model, "task", "segment")),
        "names": names,
        "nc": len(names),
        "stride": int(max(strides)),
        "strides": strides,
        "imgsz": list(args["imgsz"]),
        "batch": int(args.get("batch", 1)),
        "dynamic": bool(args.get("dynamic")),
        "half": bool(args.get("half")),
        "int8": bool(args.get("int8")),
        "nms": bool(args.get("nms")),
        "end2end": bool(args.get("end2end")),
        "preprocess": dict(PREPROCESS),
        "args": export_args,
        "segctl_version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def normalise(meta: dict) -> dict:
    """Fix types lost in transit (JSON turns ``names`` keys into strings, YAML may keep tuples)."""
    out = dict(meta)
    names = out.get("names")
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    if isinstance(names, dict):
        out["names"] = {int(k): str(v) for k, v in names.items()}
        out.setdefault("nc", len(out["names"]))
    imgsz = out.get("imgsz")
    if isinstance(imgsz, int):
        out["imgsz"] = [imgsz, imgsz]
    return out


# ------------------------------------------------------------------ string maps (ONNX metadata_props)
def names_literal(names: dict) -> str:
    """``{0: "circle", 1: "ring"}``: integer keys, readable as a Python literal *and* as YAML, the
    form downstream YOLOv8 tools parse (JSON would turn the keys into strings)."""
    return "{" + ", ".join(f"{int(k)}: {json.dumps(str(v))}" for k, v in names.items()) + "}"


def to_props(meta: dict) -> dict[str, str]:
    """One string per key: strings as they are, ``names`` as :func:`names_literal`, the rest JSON."""
    out = {k: v if isinstance(v, str) else json.dumps(_plain(v)) for k, v in meta.items()}
    if isinstance(meta.get("names"), dict):
        out["names"] = names_literal(meta["names"])
    return out


def from_props(props: dict[str, str]) -> dict:
    """Inverse of :func:`to_props`. Values JSON cannot parse are read as YAML scalars/flow maps, which
    also covers the reference implementation's Python-literal style (``{0: 'circle'}``)."""
    meta: dict[str, Any] = {}
    for key, text in props.items():
        try:
            meta[key] = json.loads(text)
        except (TypeError, ValueError):
            try:
                meta[key] = yaml.safe_load(text)
            except yaml.YAMLError:
                meta[key] = text
    return normalise(meta)


# ------------------------------------------------------------------ ONNX
def write_onnx_metadata(path: str | os.PathLike, meta: dict) -> None:
    """Replace the ``metadata_props`` of the ONNX file at ``path`` with ``meta`` (external data untouched)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    del model.metadata_props[:]
    for key, value in to_props(meta).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def read_onnx_metadata(path: str | os.PathLike) -> dict:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return from_props({p.key: p.value for p in model.metadata_props})


# ------------------------------------------------------------------ TorchScript
def torchscript_extra_files(meta: dict) -> dict[str, str]:
    return {TORCHSCRIPT_KEY: json.dumps(_plain(meta))}


def parse_torchscript_extra(files: dict) -> dict:
    text = files.get(TORCHSCRIPT_KEY) or ""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return normalise(json.loads(text)) if text else {}


# ------------------------------------------------------------------ folder formats
def yaml_path(folder: Path, stem: str | None = None) -> Path:
    """``<folder>/metadata.yaml`` (or ``<folder>/<stem>.metadata.yaml`` beside a single file)."""
    return Path(folder) / (f"{stem}.metadata.yaml" if stem else "metadata.yaml")


def write_yaml_metadata(folder: str | os.PathLike, meta: dict, stem: str | None = None) -> Path:
    path = yaml_path(Path(folder), stem)
    path.write_text(yaml.safe_dump(_plain(meta), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def read_yaml_metadata(folder: str | os.PathLike, stem: str | None = None) -> dict:
    path = yaml_path(Path(folder), stem)
    if not path.is_file():
        return {}
    return normalise(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
