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
from ..errors import CheckpointError

TORCHSCRIPT_KEY = "config.txt"

MAX_METADATA_BYTES = 4 << 20
"""Largest metadata accepted from an artifact (segctl writes ~2 KB; 21 000 class names ~500 KB).
YAML parses at about 1 MB/s in pure Python, so an unbounded value is a time bomb."""
MAX_CLASSES = 100_000
MAX_IMGSZ = 16_384


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors/aliases: metadata never needs them, and nested aliases
    (the "billion laughs" file) turn a few hundred bytes into an exponential structure the moment
    anything walks or prints it."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("YAML aliases (*name) are not allowed in artifact metadata")
        return super().compose_node(parent, index)


def load_yaml(text: str, source: str = "artifact metadata"):
    """Parse metadata YAML: bounded size, no aliases; errors name ``source``."""
    if len(text) > MAX_METADATA_BYTES:
        raise CheckpointError(f"{source}: metadata of {len(text):,} bytes exceeds {MAX_METADATA_BYTES:,}",
                              hint="the artifact was not written by segctl or has been tampered with")
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise CheckpointError(f"{source}: metadata is not valid YAML ({e})") from e


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


def normalise(meta: dict, source: str = "artifact metadata") -> dict:
    """Fix types lost in transit (JSON turns ``names`` keys into strings, YAML may keep tuples) and
    refuse metadata that lies about its types: every bad field is a :class:`CheckpointError`
    naming ``source`` (the file) and the field, never a raw ``ValueError`` later in predict."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{source}: metadata must be a mapping, got {type(meta).__name__}")

    def bad(field, why):
        return CheckpointError(f"{source}: metadata field {field!r} {why} (got {_short(out.get(field))})",
                               hint="re-export the model with segctl export, or fix the metadata file")

    out = dict(meta)
    names = out.get("names")
    if names is not None:
        if isinstance(names, (list, tuple)):
            names = dict(enumerate(names))
        if not isinstance(names, dict):
            raise bad("names", "must map class indices to names")
        if len(names) > MAX_CLASSES:
            raise bad("names", f"lists {len(names)} classes (limit {MAX_CLASSES})")
        fixed = {}
        for k, v in names.items():
            if isinstance(k, bool) or not (isinstance(k, int) or (isinstance(k, str) and k.strip().isdigit())):
                raise bad("names", f"has a key {_short(k)} that is not a class index")
            if not isinstance(v, (str, int, float)) or isinstance(v, bool):
                raise bad("names", f"has a {type(v).__name__} where a class name belongs")
            fixed[int(k)] = str(v)
        out["names"] = fixed
        out.setdefault("nc", len(fixed))
    nc = out.get("nc")
    if nc is not None and (isinstance(nc, bool) or not isinstance(nc, int) or not 0 <= nc <= MAX_CLASSES):
        raise bad("nc", f"must be an integer in 0..{MAX_CLASSES}")
    imgsz = out.get("imgsz")
    if isinstance(imgsz, int) and not isinstance(imgsz, bool):
        imgsz = [imgsz, imgsz]
    if imgsz is not None:
        if isinstance(imgsz, (list, tuple)) and len(imgsz) == 1:
            imgsz = [imgsz[0], imgsz[0]]
        if not (isinstance(imgsz, (list, tuple)) and len(imgsz) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_IMGSZ for v in imgsz)):
            raise bad("imgsz", f"must be one or two integers in 1..{MAX_IMGSZ}")
        out["imgsz"] = list(imgsz)
    for key in ("stride",):
        v = out.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1024):
            raise bad(key, "must be a positive number")
    strides = out.get("strides")
    if strides is not None and not (isinstance(strides, (list, tuple)) and len(strides) <= 16 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1024 for v in strides)):
        raise bad("strides", "must be a list of positive numbers")
    batch = out.get("batch")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or not 0 < batch <= 4096):
        raise bad("batch", "must be an integer in 1..4096")
    for key in ("dynamic", "half", "int8", "nms"):
        if out.get(key) is not None and not isinstance(out[key], bool):
            raise bad(key, "must be true or false")
    for key in ("task", "format"):
        if out.get(key) is not None and not isinstance(out[key], str):
            raise bad(key, "must be a string")
    return out


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


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


def from_props(props: dict[str, str], source: str = "artifact metadata") -> dict:
    """Inverse of :func:`to_props`. Values JSON cannot parse are read as YAML scalars/flow maps, which
    also covers the reference implementation's Python-literal style (``{0: 'circle'}``). The total size
    is bounded and YAML aliases are refused (see :func:`load_yaml`)."""
    total = sum(len(str(k)) + len(str(v)) for k, v in props.items())
    if total > MAX_METADATA_BYTES:
        raise CheckpointError(f"{source}: metadata of {total:,} bytes exceeds {MAX_METADATA_BYTES:,}",
                              hint="the artifact was not written by segctl or has been tampered with")
    meta: dict[str, Any] = {}
    for key, text in props.items():
        try:
            meta[key] = json.loads(text)
        except (TypeError, ValueError):
            try:
                meta[key] = load_yaml(text, f"{source} [{key}]")
            except CheckpointError as e:
                if "aliases" in str(e):
                    raise
                meta[key] = text
    return normalise(meta, source)


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
    return from_props({p.key: p.value for p in model.metadata_props}, str(path))


# ------------------------------------------------------------------ TorchScript
def torchscript_extra_files(meta: dict) -> dict[str, str]:
    return {TORCHSCRIPT_KEY: json.dumps(_plain(meta))}


def parse_torchscript_extra(files: dict, source: str = "TorchScript metadata") -> dict:
    text = files.get(TORCHSCRIPT_KEY) or ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text) > MAX_METADATA_BYTES:
        raise CheckpointError(f"{source}: metadata of {len(text):,} bytes exceeds {MAX_METADATA_BYTES:,}")
    try:
        return normalise(json.loads(text), source) if text else {}
    except ValueError as e:
        raise CheckpointError(f"{source}: metadata is not valid JSON ({e})") from e


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
    size = path.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise CheckpointError(f"{path}: metadata of {size:,} bytes exceeds {MAX_METADATA_BYTES:,}",
                              hint="the artifact was not written by segctl or has been tampered with")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path}: metadata is not UTF-8 text ({e})") from e
    return normalise(load_yaml(text, str(path)) or {}, str(path))
