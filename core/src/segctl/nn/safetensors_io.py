"""A small, strict reader and writer for the safetensors format.

Why our own parser instead of trusting a library blindly: the header is attacker-controlled JSON.
We reject what a lenient parser would silently accept — duplicate keys (JSON's last-wins would hide a
tensor), overlapping or gapped byte ranges, a header length larger than the file, a truncated body,
byte counts that disagree with dtype × shape — each with its own message. Files written here load
with the reference ``safetensors`` library and vice versa.

Layout: 8-byte little-endian header length N, N bytes of JSON ``{name: {dtype, shape, data_offsets},
"__metadata__": {str: str}}``, then the raw little-endian tensor bytes.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

from ..errors import CheckpointError

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 16 * 1024 * 1024
"""Largest JSON header accepted (a yolov8x-seg header with segctl metadata: ~100 KB). Parsed JSON
costs 10-50x its bytes in Python objects, so the header, not only the file, must be bounded."""


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().to("cpu").contiguous()
    if t.numel() == 0:
        return b""
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def write_safetensors(fh, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (name → tensor) and string ``metadata`` to the open binary file ``fh``."""
    header: dict = {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in NAMES:
            raise CheckpointError(f"tensor {name!r} has dtype {t.dtype}, which safetensors cannot store")
        b = _tensor_bytes(t)
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    fh.write(struct.pack("<Q", len(raw)))
    fh.write(raw)
    for b in blobs:
        fh.write(b)


def _no_duplicates(path):
    def hook(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise CheckpointError(f"{path}: safetensors header has duplicate key {k!r}",
                                      hint="the file is corrupt or was crafted; re-export it")
            seen.add(k)
        return dict(pairs)

    return hook


def read_safetensors(path: str | Path) -> tuple[dict, dict]:
    """Return ``(tensors, metadata)``; every inconsistency raises :class:`CheckpointError`."""
    path = Path(path)
    data = path.read_bytes()
    size = len(data)
    if size == 0:
        raise CheckpointError(f"{path}: empty file", hint="the download or save did not complete")
    if size < 8:
        raise CheckpointError(f"{path}: truncated safetensors file ({size} bytes, no header)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > size - 8:
        raise CheckpointError(f"{path}: safetensors header length {n} exceeds the file size {size}",
                              hint="the file is truncated or not safetensors")
    if n > MAX_HEADER:
        raise CheckpointError(f"{path}: safetensors header of {n} bytes is implausibly large")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates(path))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: safetensors header is not valid JSON ({e})") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: safetensors header must be a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise CheckpointError(f"{path}: safetensors __metadata__ must map strings to strings")
    body = memoryview(data)[8 + n :]
    spans = []
    for name, e in header.items():
        if not isinstance(e, dict) or e.get("dtype") not in DTYPES:
            raise CheckpointError(f"{path}: tensor {name!r} has an unknown or missing dtype")
        shape, offs = e.get("shape"), e.get("data_offsets")
        if not (isinstance(shape, list) and len(shape) <= 16
                and all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 1 << 48 for s in shape)):
            raise CheckpointError(f"{path}: tensor {name!r} has an invalid shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
                and 0 <= offs[0] <= offs[1]):
            raise CheckpointError(f"{path}: tensor {name!r} has invalid data_offsets {offs!r}")
        numel = 1
        for s in shape:
            numel *= s
        itemsize = torch.empty((), dtype=DTYPES[e["dtype"]]).element_size()
        if offs[1] - offs[0] != numel * itemsize:
            raise CheckpointError(
                f"{path}: tensor {name!r} spans {offs[1] - offs[0]} bytes but {e['dtype']}{shape} needs {numel * itemsize}"
            )
        spans.append((offs[0], offs[1], name))
    spans.sort()
    end, prev = 0, None
    for b, e, name in spans:
        if b < end:
            raise CheckpointError(f"{path}: tensors {prev!r} and {name!r} have overlapping byte ranges",
                                  hint="the file is corrupt or was crafted")
        if b > end:
            raise CheckpointError(f"{path}: unused bytes before tensor {name!r} (offset {end}..{b})")
        end, prev = e, name
    if len(body) < end:
        raise CheckpointError(f"{path}: truncated safetensors body ({len(body)} of {end} bytes)",
                              hint="the download or save did not complete")
    if len(body) > end:
        raise CheckpointError(f"{path}: {len(body) - end} unexpected trailing bytes after the last tensor")
    tensors = {}
    for b, e, name in spans:
        dt, shape = DTYPES[header[name]["dtype"]], header[name]["shape"]
        if e == b:
            tensors[name] = torch.empty(shape, dtype=dt)
        else:
            tensors[name] = torch.frombuffer(bytearray(body[b:e]), dtype=dt).reshape(shape)
    return tensors, metadata
