"""The named dataset ``shapes-seg``: generated once into a cache folder, then reused.

Why atomic: two processes may ask for the dataset at the same time (a DDP launch, parallel test
workers) and a generation may be interrupted. The dataset is therefore generated into a private
temporary sibling folder and moved into place with one ``os.rename``; readers see either no
dataset or a complete one. A process that loses the race discards its copy. Temporary folders
left by killed processes are removed once they are old enough not to belong to a live run.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

NAME = "shapes-seg"
_STALE_S = 3600


def default_root() -> Path:
    """``$SEGCTL_DATASETS_DIR/shapes-seg``, else ``~/.cache/segctl/datasets/shapes-seg``."""
    base = os.environ.get("SEGCTL_DATASETS_DIR")
    base_path = Path(base).expanduser() if base else Path.home() / ".cache" / "segctl" / "datasets"
    return base_path / NAME


def _clean_stale(parent: Path, name: str) -> None:
    now = time.time()
    for p in parent.glob(f".{name}.tmp-*"):
        try:
            if now - p.stat().st_mtime > _STALE_S:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def ensure_shapes(root: str | os.PathLike | None = None) -> str:
    """Make the shapes dataset in ``root`` (its own folder; default :func:`default_root`) unless it
    is already there, and return the path of its ``data.yaml``."""
    from segctl.errors import DataError

    from .generate import generate

    dest = Path(root).expanduser() if root is not None else default_root()
    yaml_path = dest / "data.yaml"
    if yaml_path.is_file():
        return str(yaml_path)
    if dest.exists() and any(dest.iterdir()):
        raise DataError(f"{dest} exists but holds no data.yaml, so it is not a complete shapes dataset",
                        hint=f"delete {dest} to have it generated again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(dest.parent, dest.name)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        generate(tmp, yaml_root=dest.resolve())
        if dest.exists():  # an empty folder (made by the user or a lost race) is replaced
            try:
                dest.rmdir()
            except OSError:
                pass
        try:
            os.rename(tmp, dest)
        except OSError:
            if not yaml_path.is_file():  # not a lost race: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return str(yaml_path)
