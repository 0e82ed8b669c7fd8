"""Atomic file writes: a reader (or a crash) never sees half a file.

Write to a temporary file in the destination directory, fsync, then ``os.replace``. Stray
temporary files from a killed writer share a recognisable prefix and are removed by
:func:`clean_stale_temps` at the next start.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

TMP_PREFIX = ".segctl-tmp-"


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def clean_stale_temps(directory: str | Path) -> list[Path]:
    """Remove temp files left by an interrupted atomic write; returns what was removed."""
    d = Path(directory)
    removed = []
    if d.is_dir():
        for p in d.glob(TMP_PREFIX + "*"):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed
