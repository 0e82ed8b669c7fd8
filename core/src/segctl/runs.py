"""Run directories: ``runs/<task>/<mode>[N]/`` like the reference tool, never overwriting a run."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .io import atomic_write_text


def increment_run_dir(project: str | Path, name: str, exist_ok: bool = False, mkdir: bool = True) -> Path:
    """``project/name`` if free (or ``exist_ok``), else ``project/name2``, ``name3``, ...

    The directory is created with ``exist_ok=False`` so two concurrent runs never share one.
    """
    project = Path(project)
    base = project / name
    if exist_ok:
        if mkdir:
            base.mkdir(parents=True, exist_ok=True)
        return base
    n = 1
    while True:
        cand = base if n == 1 else project / f"{name}{n}"
        if not cand.exists():
            if not mkdir:
                return cand
            try:
                cand.mkdir(parents=True, exist_ok=False)
                return cand
            except FileExistsError:
                pass
        n += 1


def default_run_name(mode: str, name: str | None) -> str:
    return name if name else mode


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_args(run_dir: str | Path, cfg: dict[str, Any]) -> Path:
    """Write the resolved configuration as ``args.yaml`` (atomically)."""
    return atomic_write_text(Path(run_dir) / "args.yaml", yaml.safe_dump(_plain(cfg), sort_keys=False))


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str) -> str:
    return _SAFE.sub("_", text)
