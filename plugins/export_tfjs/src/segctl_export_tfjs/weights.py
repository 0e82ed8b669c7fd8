"""Reading a TF.js graph model's weights: the ``weightsManifest`` of ``model.json`` and its shards.

Why our own reader: the backend must run a web model where only TensorFlow is installed (the
``tensorflowjs`` package drags a pinned TensorFlow along). The layout is the documented one: each
manifest group lists shard files (``paths``) whose bytes, concatenated, hold the group's weights
back to back in manifest order, little-endian, each ``prod(shape) * itemsize`` bytes. A weight
with ``quantization`` is stored as ``float16`` (cast back) or affine ``uint8``/``uint16``
(``value * scale + min``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from segctl.errors import CheckpointError

DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "float16": np.float16,
          "uint8": np.uint8, "uint16": np.uint16, "int64": np.int64}


def _decode(buf: memoryview, entry: dict) -> tuple[np.ndarray, int]:
    """``(array, bytes used)`` of one manifest ``entry`` read from the start of ``buf``."""
    shape = [int(d) for d in entry.get("shape", [])]
    count = int(np.prod(shape)) if shape else 1
    quant = entry.get("quantization")
    stored = DTYPES[(quant or entry)["dtype"]]
    size = count * np.dtype(stored).itemsize
    if size > len(buf):
        raise CheckpointError(f"weight {entry['name']!r} needs {size} bytes, only {len(buf)} left in its shards",
                              hint="the shard files are truncated or do not belong to this model.json")
    arr = np.frombuffer(buf[:size], dtype=np.dtype(stored).newbyteorder("<"), count=count).reshape(shape)
    if quant:
        out = DTYPES[entry["dtype"]]
        if quant["dtype"] == "float16":
            arr = arr.astype(out)
        else:
            arr = (arr.astype(np.float32) * float(quant["scale"]) + float(quant["min"])).astype(out)
    return arr, size


def read_weights(manifest: list[dict], base: Path) -> dict[str, np.ndarray]:
    """``{weight name: array}`` for every entry of ``manifest``, shards read from ``base``."""
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        try:
            data = b"".join((base / p).read_bytes() for p in group["paths"])
        except OSError as e:
            raise CheckpointError(f"{base}: weight shard missing ({e})",
                                  hint="copy the whole _web_model folder: model.json and every .bin file") from e
        buf, offset = memoryview(data), 0
        for entry in group["weights"]:
            arr, used = _decode(buf[offset:], entry)
            weights[entry["name"]] = arr
            offset += used
    return weights
