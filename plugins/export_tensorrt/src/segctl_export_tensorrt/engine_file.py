"""The ``.engine`` file layout: segctl's metadata stored in front of the serialised TensorRT engine.

Why a header and not a side file: an engine is copied around as one file, and its metadata (names,
strides, imgsz, precision, parity) must travel with it. The layout is a 4-byte little-endian length
``n``, ``n`` bytes of UTF-8 JSON metadata, then the engine bytes — the layout engines exported by the
reference implementation already use, so those files load too. A file that does not start with a
plausible header is refused (TensorRT would otherwise be handed arbitrary bytes).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from segctl.errors import CheckpointError
from segctl.export.metadata import _plain, normalise

#: metadata is a few kB; anything claiming more than this is not a segctl/reference header
MAX_HEADER = 16 * 1024 * 1024


def pack(meta: dict, engine: bytes) -> bytes:
    header = json.dumps(_plain(meta)).encode("utf-8")
    return len(header).to_bytes(4, "little") + header + bytes(engine)


def write_engine(path: str | os.PathLike, meta: dict, engine: bytes) -> None:
    Path(path).write_bytes(pack(meta, engine))


def unpack(data: bytes, name: str = "engine") -> tuple[dict, bytes]:
    """``(metadata, engine_bytes)`` from a file's content."""
    if len(data) < 4:
        raise CheckpointError(f"{name}: truncated .engine file ({len(data)} bytes)")
    n = int.from_bytes(data[:4], "little")
    if not 0 < n <= min(MAX_HEADER, len(data) - 4):
        raise CheckpointError(f"{name}: no segctl metadata header in this .engine file",
                              hint="re-export it with: segctl export format=engine model=...")
    try:
        meta = json.loads(data[4:4 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{name}: the .engine metadata header is not valid JSON ({e})",
                              hint="re-export it with: segctl export format=engine model=...") from e
    if not isinstance(meta, dict):
        raise CheckpointError(f"{name}: the .engine metadata header is not a mapping")
    return normalise(meta, name), data[4 + n:]


def read_engine(path: str | os.PathLike) -> tuple[dict, bytes]:
    return unpack(Path(path).read_bytes(), str(path))


def replace_metadata(path: str | os.PathLike, meta: dict) -> None:
    """Rewrite the header of an existing file (the engine bytes are kept as they are)."""
    _, engine = read_engine(path)
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(pack(meta, engine))
    os.replace(tmp, path)
