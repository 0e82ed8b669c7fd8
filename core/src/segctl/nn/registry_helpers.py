"""Thin adapter between the plugin registry (session) and the plain-mapping builders.

The builders in :mod:`segctl.nn.parser` and :mod:`segctl.nn.checkpoint` take a plain
``layers`` mapping (name → class) so they can be used and tested without a session. This module
turns a session's registry into that mapping — lazily, so only the layer types a YAML actually
uses are imported — and resolves model names (``yolov8n-seg``, ``yolov8n-seg.yaml``) to config files.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from difflib import get_close_matches
from pathlib import Path

from ..errors import SegctlError, UsageError


def _specs(session, kind: str) -> list:
    specs = session.registry.all(kind)
    return list(specs.values()) if isinstance(specs, Mapping) else list(specs)


def _get(session, kind: str, name: str):
    try:
        return session.registry.get(kind, name)
    except (LookupError, SegctlError):
        return None


class LayerMapping(Mapping):
    """``name → class`` over the registry's LayerSpecs, importing each target on first use."""

    def __init__(self, specs):
        self._specs = {s.name: s for s in specs}
        self._cache: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        if name not in self._cache:
            self._cache[name] = self._specs[name].load()
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def task_of(self, name: str) -> str:
        spec = self._specs.get(name)
        return getattr(spec, "task", "") if spec else ""


def layers_from_session(session) -> LayerMapping:
    """The registered layer types of ``session`` as a lazy mapping for :func:`build_model`."""
    return LayerMapping(_specs(session, "layers"))


def resolve_model_config(name_or_path: str | os.PathLike, session) -> tuple[str, str | None]:
    """``(yaml_path, scale)`` for a registered name (with or without ``.yaml``) or a YAML file path."""
    text = str(name_or_path)
    stem = Path(text).name
    for suffix in (".yaml", ".yml"):
        stem = stem.removesuffix(suffix)
    spec = _get(session, "models", stem)
    if Path(text).is_file():
        return text, (getattr(spec, "scale", "") or None) if spec else None
    if spec is not None:
        return spec.path(), spec.scale or None
    names = [s.name for s in _specs(session, "models")]
    close = get_close_matches(stem, names, n=3)
    raise UsageError(
        f"unknown model {text!r}: not a file and not a registered model configuration",
        hint=(f"did you mean {', '.join(close)}? " if close else "") + f"known: {', '.join(sorted(names)[:12])}",
    )


def build_from_session(name_or_path, session, nc: int | None = None, names=None, ch: int = 3):
    """Build a model from a registered name or YAML path using the session's layer types."""
    from .parser import build_model, load_cfg

    path, scale = resolve_model_config(name_or_path, session)
    layers = layers_from_session(session)
    cfg = load_cfg(path)
    rows = list(cfg.get("backbone") or []) + list(cfg.get("head") or [])
    task = layers.task_of(rows[-1][2]) if rows and isinstance(rows[-1], (list, tuple)) and len(rows[-1]) == 4 else ""
    return build_model(cfg, layers=layers, nc=nc, names=names, ch=ch, scale=scale, task=task or None)


def read_foreign_from_session(session):
    """A ``read_foreign`` callable for :func:`load_checkpoint` that asks the plugins' hook."""
    hook = getattr(session, "hook", None) or session.pm.hook

    def read_foreign(path, unsafe_globals):
        return hook.segctl_read_checkpoint(path=str(path), unsafe_globals=list(unsafe_globals))

    return read_foreign


def load_model_from_session(path, session, *, prefer_ema: bool = True):
    """Load a checkpoint (segctl or foreign) and rebuild its model with the session's layers.

    Returns ``(model, ckpt)``."""
    from .checkpoint import load_checkpoint, model_from_checkpoint

    ckpt = load_checkpoint(path, read_foreign=read_foreign_from_session(session))
    return model_from_checkpoint(ckpt, layers_from_session(session), prefer_ema=prefer_ema), ckpt
