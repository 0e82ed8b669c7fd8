"""Finding weights files: a local path, the weights directory, or a verified download.

Why this order and these checks: a file the user already has must never be re-fetched; a download
goes to a temp file and is renamed only after its SHA-256 matches, so an interrupted or tampered
download never sits where a good file is expected. Offline, the error says exactly where to put the
file (or how to train from the YAML instead) — segctl never retries silently or installs anything.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import CheckpointError, UsageError


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_weights(name: str | os.PathLike, weights_dir: str | os.PathLike, url_template: str,
                    sha256: str | None = None, *, timeout: float = 30.0, progress: bool = True) -> Path:
    """Return a local path for ``name``; download ``url_template.format(name=...)`` if needed."""
    p = Path(name)
    if p.is_file():
        return p
    weights_dir = Path(weights_dir)
    local = weights_dir / p.name
    if local.is_file():
        return local
    url = url_template.format(name=p.name)
    weights_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=weights_dir)
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            _fetch(url, fh, timeout, progress, p.name)
            fh.flush()
            os.fsync(fh.fileno())
        if sha256 and _sha256(tmp_path) != sha256.lower():
            raise CheckpointError(f"download of {p.name} from {url} failed its SHA-256 check",
                                  hint=f"the file was discarded; place a verified copy at {local}")
        os.replace(tmp_path, local)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", None) or e
        raise UsageError(
            f"cannot download weights {p.name} from {url} ({reason})",
            hint=f"put the file at {local}, or train from scratch with model={p.stem}.yaml",
        ) from e
    finally:
        tmp_path.unlink(missing_ok=True)
    return local


def _fetch(url: str, fh, timeout: float, progress: bool, label: str) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - URL comes from the user/config
        total = int(resp.headers.get("Content-Length") or 0) or None
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      disable=not progress, transient=True) as bar:
            task = bar.add_task(f"Downloading {label}", total=total)
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                fh.write(chunk)
                bar.advance(task, len(chunk))
        if total is not None and fh.tell() != total:
            raise OSError(f"connection closed after {fh.tell()} of {total} bytes")
