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


MAX_SHARD_BYTES = 4 << 30


def _check_shard(base: Path, name) -> None:
    """A shard path must be a relative name of a regular file inside the model folder, so a crafted
    manifest can neither read ``../../etc/passwd`` as weights nor block on ``/dev/zero`` or a FIFO."""
    import os
    import stat

    root = Path(os.path.realpath(base))
    bad = not isinstance(name, str) or not name or os.path.isabs(name) or ".." in Path(name).parts
    target = Path(os.path.realpath(root / name)) if not bad else None
    if bad or (target != root and root not in target.parents):
        raise CheckpointError(f"{base}: weight shard {name!r} lies outside the model folder; refused",
                              hint="shards must be plain file names next to model.json")
    if target.exists():
        st = target.stat()
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(f"{base}: weight shard {name!r} is not a regular file; refused")
        if st.st_size > MAX_SHARD_BYTES:
            raise CheckpointError(f"{base}: weight shard {name!r} is {st.st_size:,} bytes (limit {MAX_SHARD_BYTES:,})")


def read_weights(manifest: list[dict], base: Path) -> dict[str, np.ndarray]:
    """``{weight name: array}`` for every entry of ``manifest``, shards read from ``base``."""
    weights: dict[str, np.ndarray] = {}
    if not isinstance(manifest, list) or not all(isinstance(g, dict) and isinstance(g.get("paths"), list)
                                                 and isinstance(g.get("weights"), list) for g in manifest):
        raise CheckpointError(f"{base}: model.json 'weightsManifest' must be a list of {{paths, weights}} groups")
    for group in manifest:
        for p in group["paths"]:
            _check_shard(base, p)
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
